// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-groupcache",
    products: [
        .library(name: "GroupCache", targets: ["GroupCache"]),
        .library(name: "GroupCacheInMemory", targets: ["GroupCacheInMemory"]),
        .library(name: "GroupCacheTCP", targets: ["GroupCacheTCP"]),
        .library(name: "GroupCacheProtobuf", targets: ["GroupCacheProtobuf"]),
        .library(name: "GroupCacheWire", targets: ["GroupCacheWire"]),
        .library(name: "GroupCacheAuth", targets: ["GroupCacheAuth"]),
        // The leaves, for services and benchmarks that want one on its own.
        .library(name: "GroupCacheLRU", targets: ["GroupCacheLRU"]),
        .library(name: "GroupCacheRing", targets: ["GroupCacheRing"]),
        .executable(name: "gcctl", targets: ["gcctl"]),
        .executable(name: "groupcache-node", targets: ["groupcache-node"]),
        .executable(name: "groupcache-demo", targets: ["groupcache-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // HMAC-SHA256 for the cluster secret's handshake and frame tags (docs/PROTOCOL.md, "Authentication").
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        // Latency histograms for the benchmark harness only (groupcache-bench); no library product uses it.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // Leaves: they import nothing of ours.
        .target(name: "GroupCacheLRU"),
        // The project's one lock type; on pthread_mutex in the ThreadSanitizer build (tools/tsan).
        .target(name: "GroupCacheLock"),
        .target(name: "GroupCacheSingleFlight", dependencies: ["GroupCacheLock"]),
        .target(name: "GroupCacheRing"),

        // The engine and its public API.
        .target(
            name: "GroupCache",
            dependencies: ["GroupCacheLock", "GroupCacheLRU", "GroupCacheSingleFlight", "GroupCacheRing"]
        ),

        // Typed values: swift-protobuf messages in and out of a group. The engine depends on no protobuf library.
        .target(
            name: "GroupCacheProtobuf",
            dependencies: ["GroupCache", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),

        // An in-process transport, for tests and for services that want several nodes in one process.
        .target(name: "GroupCacheInMemory", dependencies: ["GroupCache", "GroupCacheLock"]),

        .executableTarget(
            name: "gcctl",
            dependencies: [
                "GroupCache", "GroupCacheAuth", "GroupCacheTCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "groupcache-node",
            dependencies: [
                "GroupCache", "GroupCacheAuth", "GroupCacheLock", "GroupCacheTCP", "CSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .executableTarget(
            name: "groupcache-demo",
            dependencies: [
                "GroupCache", "GroupCacheTCP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // The system's SQLite, for groupcache-node's sample database.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // The wire protocol: frames and their protobuf payloads. Only GroupCacheWire/ProtobufCodec.swift sees C.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        .target(name: "CGroupCacheProto", dependencies: ["CProtobufC"]),
        .target(name: "GroupCacheWire", dependencies: ["CGroupCacheProto", "CProtobufC"]),
        // Cluster secrets, the handshake and the frame tags (docs/PROTOCOL.md, "Authentication"), on
        // swift-crypto's HMAC-SHA256: a module of its own, so that the wire's fuzz targets build without it.
        .target(
            name: "GroupCacheAuth",
            dependencies: ["GroupCacheWire", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // The TCP transport: a Dispatch server and a pooled client speaking the frames of docs/PROTOCOL.md.
        .target(
            name: "GroupCacheTCP",
            dependencies: ["GroupCache", "GroupCacheAuth", "GroupCacheLock", "GroupCacheSingleFlight", "GroupCacheWire"]
        ),

        // The benchmark harness (tools/bench, tools/soak; Benchmarks/README.md has its figures) and the
        // transport's own benchmark, beside the node so that one release build serves the demo, the harness and
        // the soak. The ordo-one micro-benchmarks live in the Benchmarks package.
        .target(name: "BenchSupport"),
        .executableTarget(
            name: "TransportBenchmark",
            dependencies: ["BenchSupport", "GroupCache", "GroupCacheTCP", "GroupCacheWire"]
        ),
        .executableTarget(
            name: "groupcache-bench",
            dependencies: [
                "BenchSupport", "GroupCache", "GroupCacheAuth", "GroupCacheTCP",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // Fakes and latches the tests share.
        .target(name: "TestSupport", dependencies: ["GroupCache", "GroupCacheLock"], path: "Tests/Support"),

        .testTarget(name: "GroupCacheLRUTests", dependencies: ["GroupCacheLRU", "TestSupport"]),
        .testTarget(name: "GroupCacheSingleFlightTests", dependencies: ["GroupCacheLock", "GroupCacheSingleFlight", "TestSupport"]),
        .testTarget(name: "GroupCacheRingTests", dependencies: ["GroupCacheRing", "TestSupport"]),
        .testTarget(name: "GroupCacheTests", dependencies: ["GroupCache", "GroupCacheInMemory", "GroupCacheLock", "TestSupport"]),
        .testTarget(
            name: "GroupCacheProtobufTests",
            dependencies: [
                "GroupCacheProtobuf", "GroupCacheInMemory", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(
            name: "GroupCacheGoPeerTests",
            dependencies: [
                "GroupCacheTCP", "GroupCacheProtobuf", "GroupCacheAuth", "TestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
        .testTarget(name: "GroupCacheWireTests", dependencies: ["GroupCacheWire", "GroupCacheAuth", "TestSupport"]),
        .testTarget(
            name: "GroupCacheTCPTests",
            dependencies: [
                "GroupCacheTCP", "GroupCacheAuth", "GroupCacheLock", "GroupCacheWire", "GroupCacheRing", "TestSupport",
                "groupcache-node", "gcctl", "groupcache-demo",
            ]),
    ]
)

// Strict settings, once, for every target.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
}
