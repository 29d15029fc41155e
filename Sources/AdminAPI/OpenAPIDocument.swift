/// The admin API's OpenAPI 3.1 document, served at `/openapi.json`. It describes
/// `AdminAPI.routes` one for one (AdminAPITests checks that, and schemathesis checks the live
/// API's answers against it): a route added there is added here in the same commit.
enum OpenAPIDocument {
    static let json = ##"""
        {
          "openapi": "3.1.0",
          "info": {
            "title": "av1relay admin API",
            "version": "1",
            "description": "Device status, sessions, usage, data-subject requests (export, erasure), the audit trail, drain and reload. Bearer tokens from the relay's configuration (`admin-token NAME:SCOPE:SHA256[:DEVICES]`); scope `read` for status, sessions and usage, `admin` for the rest; a token limited to devices sees only those. Every request with a known token to a route that reads or changes record data (or the audit trail) leaves one audit entry. Errors are `{\"error\": {\"code\", \"message\"}}` with stable codes. No response holds an IP address, a port, a username or a secret."
          },
          "components": {
            "securitySchemes": {
              "bearer": {
                "type": "http",
                "scheme": "bearer"
              }
            },
            "responses": {
              "BadRequest": {
                "description": "Bad request: a parameter is out of its range (`code` says which)",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Unauthorized": {
                "description": "No known bearer token",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                },
                "headers": {
                  "WWW-Authenticate": {
                    "schema": {
                      "type": "string"
                    },
                    "description": "Bearer realm=\"av1relay\""
                  }
                }
              },
              "Forbidden": {
                "description": "The token may not do this: its scope is `read` and the route needs `admin`, or it is limited to devices and the route is about the whole relay (`forbidden`), or it does not cover this device (`forbidden_device`; audited)",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "NotFound": {
                "description": "Not found",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "Refused": {
                "description": "Refused (`reload_refused`): nothing changed",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              },
              "StoreUnavailable": {
                "description": "The session store is off (`no_store`) or cannot be read (`store_unavailable`), or the audit trail cannot be written (`audit_unavailable`: nothing was answered)",
                "content": {
                  "application/json": {
                    "schema": {
                      "$ref": "#/components/schemas/Error"
                    }
                  }
                }
              }
            },
            "parameters": {
              "DeviceId": {
                "name": "deviceId",
                "in": "path",
                "required": true,
                "description": "The device id of the robot's credential (`robot:<id>`)",
                "schema": {
                  "type": "string",
                  "pattern": "^[A-Za-z0-9._~-]{1,128}$"
                }
              }
            },
            "schemas": {
              "Error": {
                "type": "object",
                "required": [
                  "error"
                ],
                "properties": {
                  "error": {
                    "type": "object",
                    "required": [
                      "code",
                      "message"
                    ],
                    "properties": {
                      "code": {
                        "type": "string"
                      },
                      "message": {
                        "type": "string"
                      }
                    }
                  }
                }
              },
              "StreamSummary": {
                "type": "object",
                "required": [
                  "streams",
                  "packets",
                  "bytes",
                  "expected",
                  "lost",
                  "lossPercent",
                  "jitterMillis",
                  "bitrateKbps"
                ],
                "properties": {
                  "streams": {
                    "type": "integer"
                  },
                  "packets": {
                    "type": "integer"
                  },
                  "bytes": {
                    "type": "integer"
                  },
                  "expected": {
                    "type": "integer"
                  },
                  "lost": {
                    "type": "integer"
                  },
                  "lossPercent": {
                    "type": "number"
                  },
                  "jitterMillis": {
                    "type": "number"
                  },
                  "bitrateKbps": {
                    "type": "number"
                  },
                  "frameRate": {
                    "type": "number"
                  },
                  "clockRateHz": {
                    "type": "number"
                  }
                }
              },
              "SessionRecord": {
                "type": "object",
                "description": "A session record, schema 1 (README: Record schema)",
                "required": [
                  "schema",
                  "type",
                  "session_id",
                  "device_id",
                  "start",
                  "end",
                  "duration_s",
                  "transports",
                  "directions",
                  "rtt_ms",
                  "dtls",
                  "quality",
                  "signal"
                ],
                "properties": {
                  "schema": {
                    "type": "integer",
                    "minimum": 1
                  },
                  "type": {
                    "type": "string",
                    "enum": [
                      "interim",
                      "final"
                    ]
                  },
                  "session_id": {
                    "type": "string"
                  },
                  "device_id": {
                    "type": "string"
                  },
                  "start": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "end": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "duration_s": {
                    "type": "number"
                  },
                  "end_reason": {
                    "type": "string"
                  },
                  "transports": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "string",
                      "enum": [
                        "udp",
                        "tcp",
                        "tls"
                      ]
                    }
                  },
                  "directions": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "object",
                      "additionalProperties": {
                        "$ref": "#/components/schemas/StreamSummary"
                      }
                    }
                  },
                  "rtt_ms": {
                    "type": "object",
                    "required": [
                      "samples"
                    ],
                    "properties": {
                      "samples": {
                        "type": "integer"
                      },
                      "p50": {
                        "type": "number"
                      },
                      "p90": {
                        "type": "number"
                      },
                      "p99": {
                        "type": "number"
                      }
                    }
                  },
                  "dtls": {
                    "type": "object",
                    "required": [
                      "handshakeSeen",
                      "completed"
                    ],
                    "properties": {
                      "handshakeSeen": {
                        "type": "boolean"
                      },
                      "completed": {
                        "type": "boolean"
                      },
                      "handshakeMillis": {
                        "type": "number"
                      }
                    }
                  },
                  "quality": {
                    "type": "object",
                    "required": [
                      "mos",
                      "grade"
                    ],
                    "properties": {
                      "mos": {
                        "type": "number"
                      },
                      "grade": {
                        "type": "string",
                        "enum": [
                          "good",
                          "fair",
                          "poor"
                        ]
                      },
                      "model": {
                        "type": "string"
                      }
                    }
                  },
                  "signal": {
                    "type": "object",
                    "required": [
                      "samples",
                      "ranges"
                    ],
                    "properties": {
                      "samples": {
                        "type": "integer"
                      },
                      "ranges": {
                        "type": "object",
                        "additionalProperties": {
                          "type": "object",
                          "required": [
                            "min",
                            "avg",
                            "max"
                          ],
                          "properties": {
                            "min": {
                              "type": "number"
                            },
                            "avg": {
                              "type": "number"
                            },
                            "max": {
                              "type": "number"
                            }
                          }
                        }
                      },
                      "wifiBand": {
                        "type": "string"
                      },
                      "radioType": {
                        "type": "string"
                      },
                      "operatorCode": {
                        "type": "string"
                      }
                    }
                  },
                  "mobility": {
                    "description": "Only when a side moved to a new address during the session and kept its allocation (RFC 8016): by side (robot, app), how often and the longest silence a move caused.",
                    "type": "object",
                    "additionalProperties": {
                      "type": "object",
                      "required": [
                        "moves",
                        "longest_gap_ms"
                      ],
                      "properties": {
                        "moves": {
                          "type": "integer"
                        },
                        "longest_gap_ms": {
                          "type": "number"
                        }
                      }
                    }
                  }
                }
              },
              "Counts": {
                "type": "object",
                "required": [
                  "store",
                  "session_log",
                  "spool",
                  "total"
                ],
                "properties": {
                  "store": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "session_log": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "spool": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "total": {
                    "type": "integer",
                    "minimum": 0
                  }
                }
              },
              "DeviceStatus": {
                "type": "object",
                "required": [
                  "device_id",
                  "online",
                  "in_call"
                ],
                "properties": {
                  "device_id": {
                    "type": "string"
                  },
                  "online": {
                    "type": "object",
                    "required": [
                      "robot",
                      "app",
                      "transports"
                    ],
                    "properties": {
                      "robot": {
                        "type": "boolean"
                      },
                      "app": {
                        "type": "boolean"
                      },
                      "transports": {
                        "type": "object",
                        "additionalProperties": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "in_call": {
                    "type": "boolean"
                  },
                  "live_session": {
                    "$ref": "#/components/schemas/SessionRecord"
                  },
                  "last_session": {
                    "$ref": "#/components/schemas/SessionRecord"
                  },
                  "last_seen": {
                    "type": "string",
                    "format": "date-time"
                  }
                }
              },
              "SessionList": {
                "type": "object",
                "required": [
                  "sessions"
                ],
                "properties": {
                  "sessions": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SessionRecord"
                    }
                  },
                  "next_cursor": {
                    "type": "string"
                  }
                }
              },
              "Export": {
                "type": "object",
                "required": [
                  "device_id",
                  "generated_at",
                  "holds",
                  "store",
                  "session_log",
                  "spool"
                ],
                "properties": {
                  "device_id": {
                    "type": "string"
                  },
                  "generated_at": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "from": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "to": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "holds": {
                    "$ref": "#/components/schemas/Counts"
                  },
                  "store": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SessionRecord"
                    }
                  },
                  "session_log": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SessionRecord"
                    }
                  },
                  "spool": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/SessionRecord"
                    }
                  }
                }
              },
              "UsageRow": {
                "type": "object",
                "required": [
                  "sessions",
                  "seconds",
                  "minutes",
                  "bytes",
                  "minutes_by_grade",
                  "grade_share"
                ],
                "properties": {
                  "group": {
                    "type": "string",
                    "description": "device id, day (2026-12-01) or month (2026-12), UTC; absent in the total"
                  },
                  "sessions": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "sessions with time in this row's period"
                  },
                  "seconds": {
                    "type": "number",
                    "minimum": 0
                  },
                  "minutes": {
                    "type": "number",
                    "minimum": 0
                  },
                  "bytes": {
                    "type": "object",
                    "required": [
                      "robot_to_app",
                      "app_to_robot"
                    ],
                    "properties": {
                      "robot_to_app": {
                        "type": "integer",
                        "minimum": 0
                      },
                      "app_to_robot": {
                        "type": "integer",
                        "minimum": 0
                      }
                    },
                    "description": "each session's bytes shared out in proportion to its time in the row's period"
                  },
                  "minutes_by_grade": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "number",
                      "minimum": 0
                    },
                    "description": "by grade: good, fair, poor"
                  },
                  "grade_share": {
                    "type": "object",
                    "additionalProperties": {
                      "type": "number",
                      "minimum": 0,
                      "maximum": 1
                    },
                    "description": "share of the minutes, by grade"
                  }
                }
              },
              "UsageReport": {
                "type": "object",
                "required": [
                  "from",
                  "to",
                  "rows",
                  "total",
                  "records"
                ],
                "properties": {
                  "from": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "to": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "group_by": {
                    "type": "string",
                    "enum": [
                      "device",
                      "day",
                      "month"
                    ],
                    "description": "absent without groupBy"
                  },
                  "rows": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/UsageRow"
                    }
                  },
                  "total": {
                    "$ref": "#/components/schemas/UsageRow"
                  },
                  "records": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "session records with time in the period"
                  }
                }
              },
              "AuditEntry": {
                "type": "object",
                "required": [
                  "id",
                  "at",
                  "actor",
                  "action",
                  "records",
                  "outcome",
                  "prev_hash",
                  "hash"
                ],
                "properties": {
                  "id": {
                    "type": "integer",
                    "minimum": 1
                  },
                  "at": {
                    "type": "string",
                    "format": "date-time"
                  },
                  "actor": {
                    "type": "string",
                    "description": "the token's name, `cli` (records command) or `relay` (retention)"
                  },
                  "action": {
                    "type": "string",
                    "description": "the route (`GET /v1/devices/{deviceId}/sessions`) or command (`records export`, `retention`)"
                  },
                  "device_id": {
                    "type": "string",
                    "description": "absent when the request named no device"
                  },
                  "records": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "outcome": {
                    "type": "string",
                    "description": "`ok` or the error code answered"
                  },
                  "prev_hash": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{64}$"
                  },
                  "hash": {
                    "type": "string",
                    "pattern": "^[0-9a-f]{64}$"
                  }
                }
              },
              "AuditList": {
                "type": "object",
                "required": [
                  "entries"
                ],
                "properties": {
                  "entries": {
                    "type": "array",
                    "items": {
                      "$ref": "#/components/schemas/AuditEntry"
                    }
                  },
                  "next_cursor": {
                    "type": [
                      "string",
                      "null"
                    ]
                  }
                }
              },
              "AuditVerification": {
                "type": "object",
                "required": [
                  "intact",
                  "entries"
                ],
                "properties": {
                  "intact": {
                    "type": "boolean"
                  },
                  "entries": {
                    "type": "integer",
                    "minimum": 0
                  },
                  "first_id": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "last_id": {
                    "type": [
                      "integer",
                      "null"
                    ]
                  },
                  "broken_at": {
                    "type": [
                      "integer",
                      "null"
                    ],
                    "description": "the first entry that breaks the chain"
                  },
                  "reason": {
                    "type": [
                      "string",
                      "null"
                    ]
                  }
                }
              }
            }
          },
          "paths": {
            "/healthz": {
              "get": {
                "operationId": "health",
                "summary": "The process answers",
                "responses": {
                  "200": {
                    "description": "Alive",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "status"
                          ],
                          "properties": {
                            "status": {
                              "type": "string",
                              "enum": [
                                "ok"
                              ]
                            }
                          }
                        }
                      }
                    }
                  }
                },
                "security": []
              }
            },
            "/readyz": {
              "get": {
                "operationId": "ready",
                "summary": "Serving and not draining",
                "responses": {
                  "200": {
                    "description": "Ready",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "ready"
                          ],
                          "properties": {
                            "ready": {
                              "type": "boolean",
                              "enum": [
                                true
                              ]
                            }
                          }
                        }
                      }
                    }
                  },
                  "503": {
                    "description": "Not ready (draining, or not serving yet)",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "ready",
                            "reason"
                          ],
                          "properties": {
                            "ready": {
                              "type": "boolean",
                              "enum": [
                                false
                              ]
                            },
                            "reason": {
                              "type": "string"
                            }
                          }
                        }
                      }
                    }
                  }
                },
                "security": []
              }
            },
            "/metrics": {
              "get": {
                "operationId": "metrics",
                "summary": "The relay's counters and gauges in Prometheus text format (av1relay_*); labels never hold an address, a user or a device",
                "responses": {
                  "200": {
                    "description": "Prometheus text exposition format 0.0.4",
                    "content": {
                      "text/plain": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/openapi.json": {
              "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                  "200": {
                    "description": "OpenAPI 3.1",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object"
                        }
                      }
                    }
                  }
                },
                "security": []
              }
            },
            "/v1/devices/{deviceId}": {
              "get": {
                "operationId": "device",
                "summary": "A device now: online (robot/app allocations, transports), the live session with its quality, the last session, last seen",
                "responses": {
                  "200": {
                    "description": "The device's status",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/DeviceStatus"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/devices/{deviceId}/sessions": {
              "get": {
                "operationId": "deviceSessions",
                "summary": "A device's stored sessions, oldest first, a page at a time",
                "responses": {
                  "200": {
                    "description": "A page",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/SessionList"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  },
                  {
                    "name": "from",
                    "in": "query",
                    "description": "Sessions that started at or after",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    }
                  },
                  {
                    "name": "to",
                    "in": "query",
                    "description": "Sessions that started before",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    }
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 1000,
                      "default": 100
                    }
                  },
                  {
                    "name": "cursor",
                    "in": "query",
                    "description": "`next_cursor` of the previous page",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/sessions": {
              "get": {
                "operationId": "liveSessions",
                "summary": "Every live session, as its record so far",
                "responses": {
                  "200": {
                    "description": "Live sessions",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/SessionList"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "name": "live",
                    "in": "query",
                    "required": true,
                    "schema": {
                      "type": "string",
                      "enum": [
                        "true"
                      ]
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/sessions/{sessionId}": {
              "get": {
                "operationId": "session",
                "summary": "One session: live, or from the store",
                "responses": {
                  "200": {
                    "description": "The session",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/SessionRecord"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "name": "sessionId",
                    "in": "path",
                    "required": true,
                    "schema": {
                      "type": "string",
                      "pattern": "^[0-9a-f]{32}$"
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/devices/{deviceId}/export": {
              "get": {
                "operationId": "exportDevice",
                "summary": "Scope admin. Every record held about the device (data-subject access and portability)",
                "responses": {
                  "200": {
                    "description": "Everything held, by place",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Export"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/devices/{deviceId}/records": {
              "delete": {
                "operationId": "deleteDeviceRecords",
                "summary": "Scope admin. Erase the device's records from the store, the session log (rotations too) and the spool; idempotent; audited without whose",
                "responses": {
                  "200": {
                    "description": "How many were erased, by place",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/Counts"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "404": {
                    "$ref": "#/components/responses/NotFound"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/status": {
              "get": {
                "operationId": "statusPage",
                "summary": "A fleet of one at a glance: devices online, live sessions with their quality grade, refusals in the last hour. HTML for people; the token may also come from the sign-in cookie",
                "responses": {
                  "200": {
                    "description": "The page (HTML, no script, no external asset)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "description": "No known token: the sign-in form (HTML)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    },
                    "headers": {
                      "WWW-Authenticate": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/status/devices/{deviceId}": {
              "get": {
                "operationId": "deviceStatusPage",
                "summary": "A device: online now, the live session's loss, jitter, RTT and MOS, the robot's signal over the last ten minutes (inline SVG), the last sessions. HTML for people",
                "responses": {
                  "200": {
                    "description": "The page (HTML, no script, no external asset)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "description": "No known token: the sign-in form (HTML)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    },
                    "headers": {
                      "WWW-Authenticate": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ],
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  }
                ]
              }
            },
            "/status/login": {
              "post": {
                "operationId": "statusLogin",
                "summary": "The status pages' sign-in form: a known token is kept in an HttpOnly, SameSite=Strict cookie for /status",
                "requestBody": {
                  "required": true,
                  "content": {
                    "application/x-www-form-urlencoded": {
                      "schema": {
                        "type": "object",
                        "required": [
                          "token"
                        ],
                        "properties": {
                          "token": {
                            "type": "string"
                          }
                        }
                      }
                    }
                  }
                },
                "responses": {
                  "303": {
                    "description": "Signed in (or out): on to /status, with the cookie set (or cleared)",
                    "headers": {
                      "Location": {
                        "schema": {
                          "type": "string"
                        }
                      },
                      "Set-Cookie": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "401": {
                    "description": "Not a token this relay knows: the form again (HTML)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    },
                    "headers": {
                      "WWW-Authenticate": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "403": {
                    "description": "Posted from another site's page (Origin is not this listener)",
                    "content": {
                      "text/html": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/status/logout": {
              "post": {
                "operationId": "statusLogout",
                "summary": "Forgets the status pages' sign-in cookie",
                "responses": {
                  "303": {
                    "description": "Signed in (or out): on to /status, with the cookie set (or cleared)",
                    "headers": {
                      "Location": {
                        "schema": {
                          "type": "string"
                        }
                      },
                      "Set-Cookie": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  }
                }
              }
            },
            "/v1/drain": {
              "post": {
                "operationId": "drain",
                "summary": "Scope admin. Drain, as SIGUSR1: leave the fleet, go not-ready, let live calls end, exit 0",
                "responses": {
                  "202": {
                    "description": "Draining",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "draining"
                          ],
                          "properties": {
                            "draining": {
                              "type": "boolean"
                            }
                          }
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/reload": {
              "post": {
                "operationId": "reload",
                "summary": "Scope admin. Re-read the configuration (as SIGHUP) and apply what may change live",
                "responses": {
                  "200": {
                    "description": "What changed (counts, never a secret)",
                    "content": {
                      "application/json": {
                        "schema": {
                          "type": "object",
                          "required": [
                            "changed"
                          ],
                          "properties": {
                            "changed": {
                              "type": "object",
                              "additionalProperties": {
                                "type": "string"
                              }
                            }
                          }
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "409": {
                    "$ref": "#/components/responses/Refused"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/usage": {
              "get": {
                "operationId": "usage",
                "summary": "Usage of every device (a limited token: of its devices) over a period: sessions, minutes, bytes each way, minutes by quality grade; in total and by device, UTC day or month",
                "responses": {
                  "200": {
                    "description": "Usage over the period (JSON, or CSV with `Accept: text/csv`: a header, a line per row, then the total)",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/UsageReport"
                        }
                      },
                      "text/csv": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "name": "from",
                    "in": "query",
                    "description": "Start of the period (sessions are cut here)",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    },
                    "required": true
                  },
                  {
                    "name": "to",
                    "in": "query",
                    "description": "End of the period (exclusive)",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    },
                    "required": true
                  },
                  {
                    "name": "groupBy",
                    "in": "query",
                    "description": "Rows by device, UTC day or UTC month (none: the total only)",
                    "schema": {
                      "type": "string",
                      "enum": [
                        "device",
                        "day",
                        "month"
                      ]
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/devices/{deviceId}/usage": {
              "get": {
                "operationId": "deviceUsage",
                "summary": "One device's usage over a period, in total and by UTC day or month",
                "responses": {
                  "200": {
                    "description": "Usage over the period (JSON, or CSV with `Accept: text/csv`: a header, a line per row, then the total)",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/UsageReport"
                        }
                      },
                      "text/csv": {
                        "schema": {
                          "type": "string"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "$ref": "#/components/parameters/DeviceId"
                  },
                  {
                    "name": "from",
                    "in": "query",
                    "description": "Start of the period (sessions are cut here)",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    },
                    "required": true
                  },
                  {
                    "name": "to",
                    "in": "query",
                    "description": "End of the period (exclusive)",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    },
                    "required": true
                  },
                  {
                    "name": "groupBy",
                    "in": "query",
                    "description": "Rows by UTC day or UTC month",
                    "schema": {
                      "type": "string",
                      "enum": [
                        "day",
                        "month"
                      ]
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/audit": {
              "get": {
                "operationId": "audit",
                "summary": "The audit trail: who read or changed which device's records, oldest first, a page at a time",
                "responses": {
                  "200": {
                    "description": "A page of entries",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/AuditList"
                        }
                      }
                    }
                  },
                  "400": {
                    "$ref": "#/components/responses/BadRequest"
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "parameters": [
                  {
                    "name": "from",
                    "in": "query",
                    "description": "Entries at or after",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    }
                  },
                  {
                    "name": "to",
                    "in": "query",
                    "description": "Entries before",
                    "schema": {
                      "type": "string",
                      "format": "date-time"
                    }
                  },
                  {
                    "name": "device",
                    "in": "query",
                    "description": "Entries about this device",
                    "schema": {
                      "type": "string",
                      "pattern": "^[A-Za-z0-9._~-]{1,128}$"
                    }
                  },
                  {
                    "name": "limit",
                    "in": "query",
                    "description": "Entries per page",
                    "schema": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 10000,
                      "default": 1000
                    }
                  },
                  {
                    "name": "cursor",
                    "in": "query",
                    "description": "`next_cursor` of the previous page",
                    "schema": {
                      "type": "string"
                    }
                  }
                ],
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            },
            "/v1/audit/verify": {
              "get": {
                "operationId": "auditVerify",
                "summary": "The audit trail's hash chain checked end to end: an entry changed or removed from the middle shows",
                "responses": {
                  "200": {
                    "description": "What the check found",
                    "content": {
                      "application/json": {
                        "schema": {
                          "$ref": "#/components/schemas/AuditVerification"
                        }
                      }
                    }
                  },
                  "401": {
                    "$ref": "#/components/responses/Unauthorized"
                  },
                  "403": {
                    "$ref": "#/components/responses/Forbidden"
                  },
                  "503": {
                    "$ref": "#/components/responses/StoreUnavailable"
                  }
                },
                "security": [
                  {
                    "bearer": []
                  }
                ]
              }
            }
          }
        }
        """##
}
