// swift-tools-version: 6.1
// Micro-benchmarks of the engine, apart from the main package so that its `swift build` and `swift test` never
// compile ordo-one/benchmark. Run: `cd Benchmarks && swift package benchmark` (see README.md). The harness
// (groupcache-bench) and TransportBenchmark are executables of the main package: tools/bench, tools/soak and
// tools/demo then share one release build.
import PackageDescription

let package = Package(
    name: "swift-groupcache-benchmarks",
    dependencies: [
        .package(name: "swift-groupcache", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "GroupCache", package: "swift-groupcache"),
                .product(name: "GroupCacheLRU", package: "swift-groupcache"),
                .product(name: "GroupCacheRing", package: "swift-groupcache"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Resident memory of a group full of tiny entries, against the budget.
        .executableTarget(
            name: "CacheMemoryBenchmark",
            dependencies: [.product(name: "GroupCache", package: "swift-groupcache")],
            path: "Sources/CacheMemoryBenchmark"
        ),
    ]
)
