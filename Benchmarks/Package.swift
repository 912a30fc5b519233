// swift-tools-version: 6.1
// Micro-benchmarks of the engine, apart from the main package so that its `swift build` and `swift test` never
// compile ordo-one/benchmark. Run: `cd Benchmarks && swift package benchmark` (see README.md).
import PackageDescription

let package = Package(
    name: "swift-groupcache-benchmarks",
    dependencies: [
        .package(name: "swift-groupcache", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
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
        // Blocking sockets and the floor's echo server, shared by the two executables below.
        .target(name: "BenchSupport", path: "Sources/BenchSupport"),
        // A plain executable: transport speed against the loopback floor, with context switches, in one run.
        .executableTarget(
            name: "TransportBenchmark",
            dependencies: [
                "BenchSupport",
                .product(name: "GroupCache", package: "swift-groupcache"),
                .product(name: "GroupCacheTCP", package: "swift-groupcache"),
                .product(name: "GroupCacheWire", package: "swift-groupcache"),
            ],
            path: "Sources/TransportBenchmark"
        ),
        // Resident memory of a group full of tiny entries, against the budget.
        .executableTarget(
            name: "CacheMemoryBenchmark",
            dependencies: [.product(name: "GroupCache", package: "swift-groupcache")],
            path: "Sources/CacheMemoryBenchmark"
        ),
        // The harness: swift-groupcache against the floor, memcached, Redis and Go groupcache (tools/bench).
        .executableTarget(
            name: "groupcache-bench",
            dependencies: [
                "BenchSupport",
                .product(name: "GroupCache", package: "swift-groupcache"),
                .product(name: "GroupCacheAuth", package: "swift-groupcache"),
                .product(name: "GroupCacheTCP", package: "swift-groupcache"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/groupcache-bench"
        ),
    ]
)
