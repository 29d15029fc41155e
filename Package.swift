// swift-tools-version:6.0
import PackageDescription

// Layers, dependencies pointing one way:
//   STUN (codec) ◄── TURN (sans-I/O engine) ◄── RelayIO (Dispatch data plane) ◄── RelayServer ◄── av1relay
// C: CAV1Digest (OpenSSL digests, for the codec) and CAV1Shim (recvmmsg/sendmmsg, epoll, socket
// options, TLS over memory BIOs) over COpenSSL (system library). Sockets: addresses and socket
// errors, shared by the data plane and the av1sim endpoints (which do not link the data plane).
let strict: [SwiftSetting] = [.unsafeFlags(["-warnings-as-errors"])]

let package = Package(
    name: "av1relay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "av1relay", targets: ["av1relay"]),
        .executable(name: "av1sim", targets: ["av1sim"]),
        .library(name: "STUN", targets: ["STUN"]),
        .library(name: "TURN", targets: ["TURN"]),
        .library(name: "RelayServer", targets: ["RelayServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // The embedded session store (SQLite, Debian's libsqlite3).
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The fleet's session store (PostgreSQL), with TLS to it.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The admin API's HTTP server.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "CAV1Digest", dependencies: ["COpenSSL"]),
        .target(name: "CAV1Shim", dependencies: ["COpenSSL"]),
        // Media libraries for the av1sim endpoints only; the relay links none of them.
        .systemLibrary(name: "CSRTP", pkgConfig: "libsrtp2", providers: [.apt(["libsrtp2-dev"])]),
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev"])]),
        .systemLibrary(name: "CVPX", pkgConfig: "vpx", providers: [.apt(["libvpx-dev"])]),
        .target(name: "CAV1Media", dependencies: ["COpenSSL", "CSRTP", "CVPX"]),
        .target(name: "AV1Media", dependencies: ["CAV1Media", "COpus", "STUN"], swiftSettings: strict),
        // The simulator's endpoints: TURN client, ICE checks, DTLS-SRTP, Opus and VP8 over the relay.
        .target(name: "AV1Endpoint", dependencies: ["AV1Media", "STUN", "Sockets", "CAV1Shim"], swiftSettings: strict),
        .executableTarget(
            name: "av1sim",
            dependencies: ["AV1Endpoint", "AV1Media", "STUN", "TURN", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .target(name: "STUN", dependencies: ["CAV1Digest"], swiftSettings: strict),
        .target(name: "TURN", dependencies: ["STUN"], swiftSettings: strict),
        .target(name: "Sockets", dependencies: ["STUN", "CAV1Shim"], swiftSettings: strict),
        .target(name: "RelayIO", dependencies: ["TURN", "Sockets", "CAV1Shim"], swiftSettings: strict),
        // Sessions: leg reports → sessions → records → sinks (off the packet path).
        .target(name: "Sessions", dependencies: ["TURN", "STUN"], swiftSettings: strict),
        // Records kept to be queried, exported and erased: the store, its spool, retention.
        .target(
            name: "SessionStore",
            dependencies: [
                "Sessions", "STUN", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The configuration: every key, its parser and checks; light enough to fuzz (FuzzConfig).
        .target(name: "RelayConfig", dependencies: ["STUN", "TURN", "Sessions"], swiftSettings: strict),
        .target(
            name: "RelayServer",
            dependencies: [
                "RelayConfig", "RelayIO", "Sockets", "TURN", "Sessions", "SessionStore", "CAV1Shim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The admin API (Hummingbird): status, sessions, data-subject requests, drain, reload.
        .target(
            name: "AdminAPI",
            dependencies: [
                "RelayIO", "RelayServer", "SessionStore", "Sessions", "STUN", "TURN", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "av1relay",
            dependencies: [
                "RelayServer", "RelayIO", "Sessions", "SessionStore", "AdminAPI", "STUN", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Shared test helpers: a scripted TURN client, fake relay resources, fixtures.
        .target(name: "TestSupport", dependencies: ["STUN", "TURN"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "STUNTests", dependencies: ["STUN", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "TURNTests", dependencies: ["TURN", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "RelayServerTests", dependencies: ["RelayServer", "RelayConfig", "RelayIO", "SessionStore", "Sessions"],
            swiftSettings: strict),
        .testTarget(name: "AV1MediaTests", dependencies: ["AV1Media"], swiftSettings: strict),
        .testTarget(name: "SessionsTests", dependencies: ["Sessions", "TURN", "STUN", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SessionStoreTests", dependencies: ["SessionStore", "Sessions", "TestSupport"], swiftSettings: strict),
        // RelayIO's shared parts (port pool, pairing registry, hairpin table, connection counter);
        // TestSupport for the one list of relay port ranges the tests bind.
        .testTarget(name: "RelayIOTests", dependencies: ["RelayIO", "Sockets", "TURN", "STUN", "TestSupport"], swiftSettings: strict),
        // Fuzz targets (issue 13; make fuzz): libFuzzer's driver when built with -sanitize=fuzzer
        // and -DFUZZING, corpus replayers and seed writers otherwise (FuzzMain).
        .target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"], path: "Fuzz/FuzzSupport", swiftSettings: strict),
        .executableTarget(
            name: "FuzzSTUN", dependencies: ["STUN", "TestSupport", "FuzzSupport"], path: "Fuzz/FuzzSTUN", swiftSettings: strict),
        .executableTarget(
            name: "FuzzFramer", dependencies: ["STUN", "TestSupport", "FuzzSupport"], path: "Fuzz/FuzzFramer", swiftSettings: strict),
        .executableTarget(
            name: "FuzzEngine", dependencies: ["STUN", "TURN", "TestSupport", "FuzzSupport"], path: "Fuzz/FuzzEngine", swiftSettings: strict
        ),
        .executableTarget(
            name: "FuzzConfig", dependencies: ["RelayConfig", "FuzzSupport"], path: "Fuzz/FuzzConfig", swiftSettings: strict),
        .executableTarget(
            name: "FuzzTLS", dependencies: ["RelayIO", "CAV1Shim", "TestSupport", "FuzzSupport"], path: "Fuzz/FuzzTLS",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzAnalyzer", dependencies: ["STUN", "TURN", "TestSupport", "FuzzSupport"], path: "Fuzz/FuzzAnalyzer",
            swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "RelayServer", "RelayIO", "Sockets", "STUN", "TestSupport", "AV1Endpoint", "Sessions", "SessionStore", "AdminAPI",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
