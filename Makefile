# AV1 Relay — the two commands a fresh machine needs: `make run` and `make test`.
# Both install the Debian packages they miss (as root, `apt-get install -y`) and build what they need.

SWIFT        ?= swift
# C libraries the package links (OpenSSL and SQLite for the relay; libsrtp2, Opus and VPx for the
# av1sim endpoints).
DEB_BUILD    := pkg-config openssl libssl-dev libsqlite3-dev libsrtp2-dev libopus-dev libvpx-dev
# coturn's turnutils_uclient / turnutils_peer: the independent clients the suite tests against;
# Chromium and its driver for a real browser call (scripts/browser-call.py, driven by Selenium);
# curl for the admin API tests; PostgreSQL, whose servers the store tests start on loopback
# (their own data directories, as the postgres user when run as root; util-linux's runuser).
DEB_TEST     := coturn chromium chromium-driver curl postgresql prometheus iproute2 nftables
# PyPI packages the tests import (only when python3 cannot import them already): Selenium for
# the browser call, kubernetes-validate (offline schemas) for deploy/kubernetes, schemathesis for
# the admin API against its own OpenAPI document.
PIP_TEST     := selenium kubernetes_validate schemathesis
RUN_PORT     ?= 3478
RUN_TLS_PORT ?= 5349
ADMIN_PORT   ?= 9478
RUN_DIR      := run
# A self-signed development certificate, made by `make run` when none is given.
TLS_CERT     ?= $(RUN_DIR)/dev-cert.pem
TLS_KEY      ?= $(RUN_DIR)/dev-key.pem
# Pairing is on by default: robot:<id> and app:<id> credentials reach only each other.
# `make run PAIRING=off` makes a general TURN server for any client (loopback peers allowed).
PAIRING      ?= on
DEV_SECRET   ?= dev-secret
ifeq ($(PAIRING),on)
RUN_AUTH     := --pairing on --user robot:demo:demo --user app:demo:demo --auth-secret $(DEV_SECRET)
else
RUN_AUTH     := --pairing off --user demo:demo --auth-secret $(DEV_SECRET) --allow-peer 127.0.0.0/8 --channel-range rfc5766
endif
RUN_ARGS     ?= --listen 127.0.0.1:$(RUN_PORT) --tcp-listen 127.0.0.1:$(RUN_PORT) \
                --tls-listen 127.0.0.1:$(RUN_TLS_PORT) --tls-cert $(TLS_CERT) --tls-key $(TLS_KEY) \
                --relay-address 127.0.0.1 $(RUN_AUTH) --session-log $(RUN_DIR)/sessions.jsonl --state-directory $(RUN_DIR) \
                --log-level info

.PHONY: run test build build-debug deps deps-test bench bench-engine fuzz fuzz-build fuzz-smoke soak format lint clean

# Fuzzing (Fuzz/, issue 13): libFuzzer and AddressSanitizer builds in a build directory of their
# own. `make fuzz` runs each target FUZZ_SECONDS; `make test` runs each FUZZ_SMOKE_SECONDS.
FUZZ_TARGETS       := FuzzSTUN FuzzFramer FuzzEngine FuzzAnalyzer FuzzConfig FuzzTLS
FUZZ_FLAGS         := -c debug --build-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -DFUZZING
FUZZ_SECONDS       ?= 600
# Stop a target sooner, after this many executions (-1: no limit).
FUZZ_RUNS          ?= -1
FUZZ_SMOKE_SECONDS ?= 5

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEB_BUILD))

define pip_install
	@missing=""; for m in $(1); do python3 -c "import $$m" >/dev/null 2>&1 || missing="$$missing $$m"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing PyPI packages:$$missing"; \
	  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore $$missing; \
	fi
endef

deps-test: deps
	$(call apt_install,$(DEB_TEST))
	$(call pip_install,$(PIP_TEST))

build: deps
	$(SWIFT) build -c release --product av1relay
	$(SWIFT) build -c release --product av1sim

build-debug: deps
	$(SWIFT) build --build-tests

$(RUN_DIR)/dev-cert.pem:
	@mkdir -p $(RUN_DIR)
	@chmod 700 $(RUN_DIR)
	@openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=localhost \
	  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout $(RUN_DIR)/dev-key.pem -out $(RUN_DIR)/dev-cert.pem 2>/dev/null
	@echo "make run: no TLS certificate given (TLS_CERT=..., TLS_KEY=...): generated a self-signed development one in $(RUN_DIR)/"

## make run: build and start av1relay on loopback with a demo user (Ctrl-C stops it).
run: build $(TLS_CERT)
	@echo ""
	@echo "av1relay: STUN/TURN on UDP and TCP 127.0.0.1:$(RUN_PORT) and TLS 127.0.0.1:$(RUN_TLS_PORT), pairing $(PAIRING)."
ifeq ($(PAIRING),on)
	@echo "Credentials: static robot:demo / app:demo (password demo), or TURN REST with secret '$(DEV_SECRET)'."
	@echo "Try a call between a robot and its app, with real DTLS-SRTP, VP8 and Opus (in another terminal):"
	@echo "  $$($(SWIFT) build -c release --show-bin-path)/av1sim pair --relay 127.0.0.1:$(RUN_PORT) --secret $(DEV_SECRET) --device demo"
	@echo "  ... --transport tcp, or --relay 127.0.0.1:$(RUN_TLS_PORT) --transport tls --tls-ca $(TLS_CERT) (the certificate checked against it)"
	@echo "A WebRTC app: iceServers: [{ urls: 'turn:127.0.0.1:$(RUN_PORT)', username: 'app:demo', credential: 'demo' }]"
	@echo "Session records (duration, loss, jitter, RTT, MOS, signal) go to $(RUN_DIR)/sessions.jsonl and the store $(RUN_DIR)/sessions.sqlite;"
	@echo "  without the relay: $$($(SWIFT) build -c release --show-bin-path)/av1relay records export --device demo --state-directory $(RUN_DIR) --session-log $(RUN_DIR)/sessions.jsonl"
	@echo "For a general TURN server (any client, e.g. coturn's turnutils_uclient): make run PAIRING=off"
else
	@echo "User 'demo' password 'demo', loopback peers allowed. Point a client at it, for example coturn's:"
	@echo "  turnutils_peer -L 127.0.0.1 -p 3480 &"
	@echo "  turnutils_uclient -c -u demo -w demo -e 127.0.0.1 -r 3480 -p $(RUN_PORT) -n 100 127.0.0.1        # UDP"
	@echo "  turnutils_uclient -t -c -u demo -w demo -e 127.0.0.1 -r 3480 -p $(RUN_PORT) -n 100 127.0.0.1     # TCP"
	@echo "  turnutils_uclient -t -S -c -u demo -w demo -e 127.0.0.1 -r 3480 -p $(RUN_TLS_PORT) -n 100 127.0.0.1  # TLS (-S alone is DTLS)"
endif
	@mkdir -p $(RUN_DIR)
	@bin=$$($(SWIFT) build -c release --show-bin-path); $$bin/av1relay admin-token dev admin > $(RUN_DIR)/admin-token.txt; \
	  chmod 600 $(RUN_DIR)/admin-token.txt; token=$$(sed -n 's/^token: //p' $(RUN_DIR)/admin-token.txt); \
	  echo "Admin API on http://127.0.0.1:$(ADMIN_PORT) (OpenAPI at /openapi.json), a fresh admin token each run:"; \
	  echo "  curl -H 'Authorization: Bearer $$token' http://127.0.0.1:$(ADMIN_PORT)/v1/devices/demo"; \
	  echo "  curl -H 'Authorization: Bearer $$token' 'http://127.0.0.1:$(ADMIN_PORT)/v1/devices/demo/sessions?limit=10'"; \
	  echo "  curl -H 'Authorization: Bearer $$token' 'http://127.0.0.1:$(ADMIN_PORT)/v1/sessions?live=true'"; \
	  echo "  curl -H 'Authorization: Bearer $$token' http://127.0.0.1:$(ADMIN_PORT)/v1/devices/demo/export"; \
	  echo "  curl -H 'Authorization: Bearer $$token' http://127.0.0.1:$(ADMIN_PORT)/metrics"; \
	  echo "  curl -H 'Authorization: Bearer $$token' 'http://127.0.0.1:$(ADMIN_PORT)/v1/usage?from=$$(date -u +%Y-%m-01T00:00:00Z)&to=$$(date -u -d tomorrow +%Y-%m-%dT00:00:00Z)&groupBy=day'"; \
	  echo "  curl -H 'Authorization: Bearer $$token' http://127.0.0.1:$(ADMIN_PORT)/v1/audit"; \
	  echo "Status pages in a browser: http://127.0.0.1:$(ADMIN_PORT)/status (sign in with the token above)"
	@echo ""
	exec $$($(SWIFT) build -c release --show-bin-path)/av1relay $(RUN_ARGS) \
	  --admin-listen 127.0.0.1:$(ADMIN_PORT) --admin-token $$(sed -n 's/^admin-token = //p' $(RUN_DIR)/admin-token.txt)

## make test: the whole suite (codec, engine, in-process relay, coturn interop, executable).
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test
	$(MAKE) fuzz-smoke

fuzz-build: deps
	@for t in $(FUZZ_TARGETS); do $(SWIFT) build $(FUZZ_FLAGS) --product $$t || exit 1; done

## make fuzz-smoke: every fuzz target briefly, from its seeds and regressions (part of make test).
fuzz-smoke: fuzz-build
	$(SWIFT) build --build-tests
	FUZZ_TARGETS="$(FUZZ_TARGETS)" scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

## make fuzz: every fuzz target for FUZZ_SECONDS (default 600) each, or FUZZ_RUNS executions; what it finds stays in .build-fuzz/corpus.
fuzz: fuzz-build
	$(SWIFT) build --build-tests
	FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_RUNS="$(FUZZ_RUNS)" scripts/fuzz.sh $(FUZZ_SECONDS)

## make soak: SOAK_MINUTES (default 30) of allocation churn against the release build, RSS and fds sampled (docs/HARDENING.md);
## SOAK_ARGS=--paired soaks paired av1sim calls and their session records instead of uclient.
SOAK_MINUTES ?= 30
SOAK_ARGS    ?=
soak: deps-test build
	scripts/soak.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

## make bench: av1relay beside coturn under the same turnutils_uclient load (see docs/PERFORMANCE.md).
bench: deps-test build
	scripts/loadbench.py

## make bench-engine: packet-path micro-benchmarks with malloc counts (Benchmarks/, ordo-one/benchmark).
bench-engine: deps
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

clean:
	rm -rf .build
