// swift-tools-version: 6.1
//
// ZCache's latency and allocation benchmarks (ordo-one/benchmark), kept in a
// package of their own so that the harness and its dependencies never reach
// what a library user resolves. Run them with `scripts/bench` (or
// `swift package benchmark` in this directory). Sources live in
// Benchmarks/<target>/, the layout the benchmark plugin discovers.
import PackageDescription

let package = Package(
    name: "ZCacheBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "ZCache", path: ".."),
        .package(
            url: "https://github.com/ordo-one/benchmark", from: "1.38.0",
            traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ZCacheBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ZCache", package: "ZCache"),
                .product(name: "ZCacheSim", package: "ZCache"),
            ],
            path: "Benchmarks/ZCacheBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
