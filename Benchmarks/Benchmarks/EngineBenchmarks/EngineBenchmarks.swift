import Benchmark
import GroupCache
import GroupCacheLRU
import GroupCacheRing

/// The engine's hot paths: a local hit through `Group.get`, a ring lookup at several cluster sizes, and an LRU
/// insert that evicts.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 5_000_000
    )

    // A cached 64-byte value, read through the public API as a service would.
    // Times are per 1,000 gets (scaling factor kilo): divide by 1,000 for one.
    Benchmark("Group.get local hit, 64-byte value") { (benchmark: Benchmark, group: Group) in
        let key: CacheKey = "user:12345"
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await group.get(key))
        }
    } setup: {
        let value = CacheValue([UInt8](repeating: 0x61, count: 64))
        let group = try GroupRegistry().makeGroup(name: "bench", cacheBytes: 64 << 20) { _, _ in value }
        _ = try await group.get("user:12345")
        return group
    }

    for peerCount in [8, 32, 128, 512] {
        for flavor in HashRing.Flavor.allCases {
            Benchmark("HashRing.ownerIndex \(flavor), \(peerCount) peers") {
                (benchmark: Benchmark, setup: (ring: HashRing, keys: [[UInt8]])) in
                for iteration in benchmark.scaledIterations {
                    setup.keys[iteration & 1023].withUnsafeBytes { blackHole(setup.ring.ownerIndex(of: $0)) }
                }
            } setup: {
                let members = (0..<peerCount).map { "http://10.0.\($0 / 256).\($0 % 256):8080" }
                return (HashRing(flavor: flavor, members: members), (0..<1024).map { Array("user:\($0 * 7919)".utf8) })
            }
        }
    }

    // Every insert passes the budget, so each one also evicts the oldest entry.
    Benchmark("LRUCache.setValue with eviction") { benchmark in
        var cache = LRUCache<Int, [UInt8]>()
        let value = [UInt8](repeating: 0, count: 64)
        let budget = 10_000 * 72
        for iteration in benchmark.scaledIterations {
            _ = cache.setValue(value, forKey: iteration, cost: 72)
            while cache.totalCost > budget { _ = cache.removeOldest() }
        }
        blackHole(cache.count)
    }
}
