import Foundation
import GroupCache
import GroupCacheTCP

/// swift-groupcache's own figures.
enum OurSections {
    static let system = "swift-groupcache"

    /// 1. A cached key through `Group.get` in this process: ns per get, best and median of five runs.
    static func localHit(_ settings: Settings, _ report: Report) async throws {
        let value = CacheValue([UInt8](repeating: 0x61, count: 64))
        let group = try GroupRegistry().makeGroup(name: "bench", cacheBytes: 64 << 20) { _, _ in value }
        let key = CacheKey("hot")
        _ = try await group.get(key)
        let gets = settings.smoke ? 100_000 : 2_000_000
        var runs: [Double] = []
        for _ in 0..<5 {
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<gets { _ = try await group.get(key) }
            runs.append((clock.now - start).seconds * 1e9 / Double(gets))
        }
        runs.sort()
        var row = Row(section: "local", system: system, valueBytes: 64, callers: 1)
        row.nanosecondsPerOperation = runs[0]
        row.notes["median_ns"] = String(format: "%.1f", runs[2])
        report.add(row)
    }

    /// 2. Peer hits: keys another node owns and holds, the caller's hot cache off so every get crosses the wire.
    /// 3. Misses: fresh keys, loaded by the owner's loader (no delay) on each get.
    static func peerHitsAndMisses(_ settings: Settings, _ report: Report, peer: Bool, miss: Bool) async throws {
        for size in settings.sizes {
            let cluster = try OurCluster(settings: settings, processes: 1, valueBytes: size, hotCache: false, label: "peer-\(size)")
            try await cluster.run {
                let owner = cluster.remotes[0]
                let keys = cluster.keys(64, ownedBy: owner, prefix: "k\(size)-")
                for key in keys { _ = try await cluster.group.get(key) }
                let group = cluster.group
                if peer {
                    let sequential = try await measureSequentially(count: settings.requests) {
                        let value = try await group.get(keys[0])
                        guard value.count == size else { throw Child.Failure(description: "a \(value.count)-byte value") }
                    }
                    report.add(Row(section: "peer hit", system: system, valueBytes: size, callers: 1, sample: sequential))
                    for callers in settings.callers {
                        // One key per caller, so that single-flight never folds two callers into one request.
                        let sample = try await measureTasks(callers: callers, seconds: settings.seconds) { index in
                            _ = try await group.get(keys[index % keys.count])
                        }
                        report.add(Row(section: "peer hit", system: system, valueBytes: size, callers: callers, sample: sample))
                    }
                }
                if miss && size == settings.sizes[0] {
                    let fresh = cluster.keys(settings.requests / 4 + 200, ownedBy: owner, prefix: "miss-")
                    var next = 0
                    let before = try await cluster.loads()
                    let sample = try await measureSequentially(count: settings.requests / 4) {
                        _ = try await group.get(fresh[next])
                        next += 1
                    }
                    var row = Row(section: "miss", system: system, valueBytes: size, callers: 1, sample: sample)
                    row.notes["loads"] = "\(try await cluster.loads() - before)"
                    report.add(row)
                }
            }
        }
    }

    /// The cost of a cluster secret: peer hits with 1 and 16 callers, with and without a secret, alternated
    /// (off, on, off, on) so that drift on a noisy machine falls on both; the better of the two runs of each is
    /// kept. Rows of the authenticated runs carry the system "swift-groupcache+secret".
    static func authenticationCost(_ settings: Settings, _ report: Report) async throws {
        let secretFile = settings.logs.appendingPathComponent("bench-secret").path
        try "a secret for the benchmark's cluster, 32 bytes or more\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        for size in [64, 262_144] where size == 64 || !settings.smoke {
            var best: [Bool: (one: Sample, sixteen: Sample)] = [:]
            for round in 0..<4 {
                let secured = round % 2 == 1
                let cluster = try OurCluster(
                    settings: settings, processes: 1, valueBytes: size, hotCache: false, label: "auth-\(size)-\(round)",
                    secretFile: secured ? secretFile : nil)
                try await cluster.run {
                    let keys = cluster.keys(64, ownedBy: cluster.remotes[0], prefix: "a\(size)-")
                    for key in keys { _ = try await cluster.group.get(key) }
                    let group = cluster.group
                    let one = try await measureSequentially(count: settings.requests) { _ = try await group.get(keys[0]) }
                    let sixteen = try await measureTasks(callers: 16, seconds: settings.seconds) { index in
                        _ = try await group.get(keys[index % keys.count])
                    }
                    if let kept = best[secured] {
                        let p50 = one.latencies.microseconds(at: 50) < kept.one.latencies.microseconds(at: 50) ? one : kept.one
                        let rate = (sixteen.requestsPerSecond ?? 0) > (kept.sixteen.requestsPerSecond ?? 0) ? sixteen : kept.sixteen
                        best[secured] = (p50, rate)
                    } else {
                        best[secured] = (one, sixteen)
                    }
                }
            }
            for secured in [false, true] {
                let system = secured ? "\(system)+secret" : system
                report.add(Row(section: "auth", system: system, valueBytes: size, callers: 1, sample: best[secured]!.one))
                report.add(Row(section: "auth", system: system, valueBytes: size, callers: 16, sample: best[secured]!.sixteen))
            }
        }
    }

    /// 4. Herds: N concurrent gets of one cold key, spread over three nodes (this one and two processes), against a
    /// loader that takes 100 ms. Counts the loads in the whole cluster and the time until the last reply.
    static func herd(_ settings: Settings, _ report: Report) async throws -> [Int: Int] {
        let cluster = try OurCluster(settings: settings, processes: 2, valueBytes: 64, loadDelayMs: 100, hotCache: true, label: "herd")
        var loadsBySize: [Int: Int] = [:]
        try await cluster.run {
            for size in settings.herdSizes {
                let key = CacheKey("herd-\(size)-\(UInt32.random(in: 0...UInt32.max))")
                let before = try await cluster.loads()
                let group = cluster.group, clients = cluster.clients
                let clock = ContinuousClock()
                let start = clock.now
                let values = try await withThrowingTaskGroup(of: [UInt8].self) { tasks in
                    for index in 0..<size {
                        tasks.addTask {
                            let node = index % (clients.count + 1)
                            if node == 0 { return try await group.get(key).bytes }
                            return try await clients[node - 1].get(key, group: "bench").bytes
                        }
                    }
                    return try await tasks.reduce(into: Set<[UInt8]>()) { $0.insert($1) }
                }
                let lastReply = clock.now - start
                let loads = try await cluster.loads() - before
                loadsBySize[size] = loads
                var row = Row(section: "herd", system: system, valueBytes: 64, callers: size)
                row.notes["loads"] = "\(loads)"
                row.notes["distinct_values"] = "\(values.count)"
                row.notes["last_reply_ms"] = String(format: "%.1f", lastReply.seconds * 1000)
                report.add(row)
            }
        }
        return loadsBySize
    }

    /// 5. Mixed: 16 callers at this node getting Zipf-distributed keys (s = 0.99) out of 100,000, over three nodes
    /// whose loaders take 1 ms and whose caches hold 8 MiB each, hot cache on.
    static func mixed(_ settings: Settings, _ report: Report) async throws {
        let keyCount = 100_000
        let cluster = try OurCluster(
            settings: settings, processes: 2, valueBytes: 64, loadDelayMs: 1, hotCache: true, cacheBytes: 8 << 20,
            label: "mixed")
        try await cluster.run {
            let zipf = Zipf(count: keyCount, exponent: 0.99)
            let keys = (0..<keyCount).map { CacheKey("item:\($0)") }
            let group = cluster.group
            let before = try await cluster.loads()
            let seconds = settings.smoke ? 0.5 : max(settings.seconds, 5)
            let sample = try await measureTasks(callers: 16, seconds: seconds) { index in
                var random = SystemRandomNumberGenerator()
                _ = try await group.get(keys[zipf.sample(using: &random)])
            }
            let loads = try await cluster.loads() - before
            var row = Row(section: "mixed", system: system, valueBytes: 64, callers: 16, sample: sample)
            row.notes["hit_ratio"] = String(format: "%.3f", 1 - Double(loads) / Double(max(1, sample.latencies.count)))
            row.notes["loads"] = "\(loads)"
            report.add(row)
        }
    }

    /// Memory: one node process with a cache budget, filled past it with 4 KiB values; its resident memory.
    static func memory(_ settings: Settings, _ report: Report) async throws {
        let budget = settings.memoryBudget
        let node = try Child(
            name: "groupcache-node", executable: settings.nodeBinary,
            arguments: [
                "--listen", "127.0.0.1:0", "--loader", "synthetic", "--value-bytes", "4096", "--group", "bench",
                "--cache-bytes", "\(budget)",
            ],
            log: settings.logs.appendingPathComponent("memory-node.log"),
            cpus: settings.placement.serverCPUs)
        defer { node.stop() }
        let port = try node.listeningPort()
        let idle = node.residentBytes ?? 0
        let client = try TCPNodeClient(address: "127.0.0.1:\(port)")
        let keys = budget / 4096 * 5 / 4
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<32 {
                tasks.addTask {
                    for index in stride(from: worker, to: keys, by: 32) {
                        _ = try await client.get(CacheKey("fill:\(index)"), group: "bench")
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let stats = try await client.stats()["bench"]
        let resident = node.residentBytes ?? 0
        let limit = Double(budget) * 1.3 + Double(32 << 20)
        var row = Row(section: "memory", system: system, valueBytes: 4096)
        row.notes["budget_mib"] = "\(budget >> 20)"
        row.notes["cached_mib"] = String(format: "%.1f", Double(stats?.mainCache.bytes ?? 0) / 1_048_576)
        row.notes["items"] = "\(stats?.mainCache.items ?? 0)"
        row.notes["rss_mib"] = String(format: "%.1f", Double(resident) / 1_048_576)
        row.notes["idle_rss_mib"] = String(format: "%.1f", Double(idle) / 1_048_576)
        row.notes["limit_mib"] = String(format: "%.1f", limit / 1_048_576)
        report.add(row)
    }
}

/// Zipf-distributed ranks in 0..<count: rank k with probability proportional to 1 / (k + 1)^exponent.
struct Zipf: Sendable {
    private let cumulative: [Double]

    init(count: Int, exponent: Double) {
        var total = 0.0
        var cumulative = [Double](repeating: 0, count: count)
        for rank in 0..<count {
            total += 1 / pow(Double(rank + 1), exponent)
            cumulative[rank] = total
        }
        self.cumulative = cumulative.map { $0 / total }
    }

    func sample(using random: inout some RandomNumberGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &random)
        var low = 0, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
