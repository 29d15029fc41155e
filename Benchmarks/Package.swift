// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks of the packet path, with malloc counts: `swift package benchmark` here.
// The end-to-end comparison with coturn is `make bench` at the root (scripts/loadbench.py).
let package = Package(
    name: "av1relay-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "av1relay", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TURN", package: "av1relay"),
                .product(name: "STUN", package: "av1relay"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
