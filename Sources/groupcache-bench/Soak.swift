import Foundation
import GroupCache
import GroupCacheTCP
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `groupcache-bench --soak`: mixed load against three `groupcache-node` processes for a while, with faults: a
/// node killed and restarted on its port, a node stopped (SIGSTOP) and resumed. It samples every node's
/// descriptors, threads and resident memory, checks that each returns to its baseline once the load stops, and
/// that no get returned a value the source never held: a synthetic load (`<key>@<node ID>`) or a value set.
/// Exit status 0 when every check holds. tools/soak runs it; docs/RELIABILITY.md has its figures.
enum Soak {
    struct Options {
        var seconds = 600
        var killAt: [Int] = Array(stride(from: 60, to: 600, by: 60))
        var stopAt: [Int] = [90, 270, 450]
        var stopSeconds = 10
        var workers = 16
        var keys = 10_000
        var nodeBinary = ""
        var output = URL(fileURLWithPath: "soak-results")

        static let usage = """
            groupcache-bench --soak SECONDS --node PATH [--kill-at S,S,...] [--stop-at S,S,...] [--stop-for S]
                             [--workers N] [--keys N] [--output DIR]
            """

        static func parse(_ arguments: [String]) throws -> Options {
            var options = Options()
            var rest = arguments[...]
            func value(_ flag: String) throws -> String {
                guard let value = rest.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
                return value
            }
            func seconds(_ text: String) throws -> [Int] {
                try text.split(separator: ",").map { part in
                    guard let value = Int(part) else { throw UsageError(message: "\(text) is not a list of seconds") }
                    return value
                }
            }
            while let flag = rest.popFirst() {
                switch flag {
                case "--soak": options.seconds = try seconds(try value(flag)).first ?? 0
                case "--node": options.nodeBinary = try value(flag)
                case "--kill-at": options.killAt = try seconds(try value(flag))
                case "--stop-at": options.stopAt = try seconds(try value(flag))
                case "--stop-for": options.stopSeconds = try seconds(try value(flag)).first ?? 0
                case "--workers": options.workers = try seconds(try value(flag)).first ?? 1
                case "--keys": options.keys = try seconds(try value(flag)).first ?? 1
                case "--output": options.output = URL(fileURLWithPath: try value(flag))
                default: throw UsageError(message: "unknown flag \(flag)\n\(usage)")
                }
            }
            guard !options.nodeBinary.isEmpty, options.seconds > 0 else { throw UsageError(message: usage) }
            return options
        }
    }

    /// One sample of a node process.
    struct Sample {
        var descriptors: Int
        var threads: Int
        var residentBytes: Int
    }

    static func run(_ arguments: [String]) async throws -> Bool {
        let options = try Options.parse(arguments)
        try FileManager.default.createDirectory(at: options.output, withIntermediateDirectories: true)
        let cluster = try SoakCluster(options: options)
        defer { cluster.stop() }
        let load = SoakLoad(cluster: cluster, keys: options.keys)
        print("soak: \(options.seconds) s, 3 nodes \(cluster.addresses.joined(separator: " ")), \(options.workers) workers, "
            + "Zipf 0.99 over \(options.keys) keys; kills at \(options.killAt) s, SIGSTOP for \(options.stopSeconds) s at \(options.stopAt) s")

        let started = ContinuousClock.now
        let end = started + .seconds(options.seconds)
        // Each node's baseline: its first sample 5 s into the load (after a restart: 5 s after it came back).
        var baselines: [Sample?] = [nil, nil, nil]
        var baselineDue: [ContinuousClock.Instant] = Array(repeating: started + .seconds(5), count: 3)
        var peaks: [Sample] = Array(repeating: Sample(descriptors: 0, threads: 0, residentBytes: 0), count: 3)
        var faults = (kills: options.killAt.sorted()[...], stops: options.stopAt.sorted()[...])
        var stopped: (node: Int, until: ContinuousClock.Instant)?
        var killCount = 0, stopCount = 0

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for worker in 0..<options.workers {
                tasks.addTask { await load.run(worker: worker, until: end) }
            }
            var lastReport = started
            while ContinuousClock.now < end {
                try await Task.sleep(for: .milliseconds(250))
                let elapsed = Int((ContinuousClock.now - started).components.seconds)
                if let stop = stopped, ContinuousClock.now >= stop.until {
                    cluster.resume(stop.node)
                    print("soak: \(elapsed) s: node \(stop.node) resumed")
                    stopped = nil
                }
                if let at = faults.kills.first, elapsed >= at {
                    faults.kills.removeFirst()
                    let node = killCount % 3
                    killCount += 1
                    try cluster.restart(node)
                    baselineDue[node] = .now + .seconds(5)
                    baselines[node] = nil
                    print("soak: \(elapsed) s: node \(node) killed and restarted")
                }
                if let at = faults.stops.first, elapsed >= at, stopped == nil {
                    faults.stops.removeFirst()
                    let node = (stopCount + 1) % 3
                    stopCount += 1
                    cluster.suspend(node)
                    stopped = (node, .now + .seconds(options.stopSeconds))
                    print("soak: \(elapsed) s: node \(node) stopped for \(options.stopSeconds) s")
                }
                for node in 0..<3 {
                    guard let sample = cluster.sample(node) else { continue }
                    peaks[node] = Sample(
                        descriptors: max(peaks[node].descriptors, sample.descriptors),
                        threads: max(peaks[node].threads, sample.threads),
                        residentBytes: max(peaks[node].residentBytes, sample.residentBytes))
                    if baselines[node] == nil, ContinuousClock.now >= baselineDue[node], stopped?.node != node {
                        baselines[node] = sample
                    }
                }
                if ContinuousClock.now - lastReport >= .seconds(10) {
                    lastReport = .now
                    print("soak: \(elapsed) s: \(load.summary)")
                }
            }
            try await tasks.waitForAll()
        }
        if let stop = stopped { cluster.resume(stop.node) }

        // The load has stopped: every node must come back to its baseline. Connections this harness held close
        // at the nodes' idle timeout, so descriptors are judged against the baseline under load, not below it.
        try await Task.sleep(for: .seconds(5))
        var ok = true
        print("node | baseline fds / threads / RSS | peak | after the load")
        for node in 0..<3 {
            guard let baseline = baselines[node], let after = cluster.sample(node) else {
                print("node \(node): no baseline or no final sample"); ok = false; continue
            }
            let back = after.descriptors <= baseline.descriptors + 4 && after.threads <= baseline.threads + 4
                && after.residentBytes <= baseline.residentBytes * 3 / 2 + (16 << 20)
            ok = ok && back
            print("\(node) | \(describe(baseline)) | \(describe(peaks[node])) | \(describe(after))\(back ? "" : "  NOT BACK TO BASELINE")")
        }
        print("soak: \(load.summary)")
        let invalid = load.invalid
        if !invalid.isEmpty {
            ok = false
            print("soak: FAILED: \(invalid.count) gets returned a value the source never held, first: \(invalid.prefix(3))")
        }
        if load.succeededGets == 0 { ok = false; print("soak: FAILED: no get succeeded") }
        let getFailures = load.getFailures
        if !getFailures.isEmpty {
            ok = false
            print("soak: FAILED: a node that answered failed a get (first \(getFailures.count)):")
            for line in getFailures { print("  \(line)") }
        }
        print(ok ? "soak: PASSED" : "soak: FAILED")
        return ok
    }

    static func describe(_ sample: Sample) -> String {
        "\(sample.descriptors) / \(sample.threads) / \(String(format: "%.1f MiB", Double(sample.residentBytes) / 1_048_576))"
    }
}

/// The three node processes of a soak, each on a fixed port so that a restart comes back on its address.
final class SoakCluster: @unchecked Sendable {
    // Only the soak's control loop touches `nodes`; workers use `clients`.
    private var nodes: [Child]
    let addresses: [String]
    let clients: [TCPNodeClient]
    private let options: Soak.Options

    init(options: Soak.Options) throws {
        self.options = options
        let ports = try (0..<3).map { _ in try freePort() }
        addresses = ports.map { "127.0.0.1:\($0)" }
        nodes = []
        for index in 0..<3 { nodes.append(try Self.start(index, addresses: addresses, options: options)) }
        clients = try addresses.map { try TCPNodeClient(address: $0) }
    }

    private static func start(_ index: Int, addresses: [String], options: Soak.Options) throws -> Child {
        let log = options.output.appendingPathComponent("node\(index).log")
        let node = try Child(
            name: "groupcache-node \(index)", executable: options.nodeBinary,
            arguments: ["--listen", addresses[index], "--peers", addresses.joined(separator: ","), "--loader", "synthetic"],
            log: log)
        _ = try node.listeningPort()
        return node
    }

    func restart(_ index: Int) throws {
        kill(nodes[index].pid, SIGKILL)
        nodes[index].stop()
        nodes[index] = try Self.start(index, addresses: addresses, options: options)
    }

    func suspend(_ index: Int) { kill(nodes[index].pid, SIGSTOP) }
    func resume(_ index: Int) { kill(nodes[index].pid, SIGCONT) }

    func sample(_ index: Int) -> Soak.Sample? {
        let pid = nodes[index].pid
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count,
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        func field(_ name: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(name) }?.split(whereSeparator: \.isWhitespace)
                .compactMap { Int($0) }.first
        }
        guard let threads = field("Threads:"), let resident = field("VmRSS:") else { return nil }
        return Soak.Sample(descriptors: descriptors, threads: threads, residentBytes: resident * 1024)
    }

    func stop() {
        for node in nodes {
            kill(node.pid, SIGCONT)
            node.stop()
        }
    }
}

/// The soak's load: gets, sets and removes of Zipf-distributed keys at random nodes, each get's value checked
/// against what the source could have held.
final class SoakLoad: Sendable {
    private struct Tally {
        var gets = 0, sets = 0, removes = 0, failures = 0
        var failuresByKind: [String: Int] = [:]
        var invalid: [String] = []
        /// Gets the asked node answered with a failure: a failing peer must never fail a get the node can load.
        var getFailures: [String] = []
    }

    private let cluster: SoakCluster
    private let zipf: Zipf
    private let tally = Mutex(Tally())
    /// Every value set for a key, so that a get may return any of them.
    private let written = Mutex<[String: Set<String>]>([:])
    private let writeNumber = Atomic(0)
    private let loadedSuffixes: Set<String>

    init(cluster: SoakCluster, keys: Int) {
        self.cluster = cluster
        zipf = Zipf(count: keys, exponent: 0.99)
        loadedSuffixes = Set(cluster.addresses.map { "@http://\($0)" })
    }

    func run(worker: Int, until end: ContinuousClock.Instant) async {
        var random = SystemRandomNumberGenerator()
        while ContinuousClock.now < end {
            let client = cluster.clients[Int.random(in: 0..<3, using: &random)]
            let key = "soak-\(zipf.sample(using: &random))"
            let operation = Int.random(in: 0..<10, using: &random)
            do {
                switch operation {
                case 0:
                    let value = "set-\(writeNumber.wrappingAdd(1, ordering: .relaxed).newValue)"
                    written.withLock { _ = $0[key, default: []].insert(value) }
                    try await client.set(CacheKey(key), to: CacheValue(value), group: "things", timeout: .seconds(5))
                    tally.withLock { $0.sets += 1 }
                case 1:
                    try await client.remove(CacheKey(key), group: "things", timeout: .seconds(5))
                    tally.withLock { $0.removes += 1 }
                default:
                    let value = try await client.get(CacheKey(key), group: "things", timeout: .seconds(5)).string
                    let valid = loadedSuffixes.contains { value == key + $0 } || written.withLock { $0[key]?.contains(value) == true }
                    tally.withLock { tally in
                        tally.gets += 1
                        if !valid && tally.invalid.count < 100 { tally.invalid.append("\(key) → \(value)") }
                    }
                }
            } catch {
                // Who failed: the node asked (down, restarting, stopped), or a peer behind it that it answered for.
                let name = ["set", "remove"].indices.contains(operation) ? ["set", "remove"][operation] : "get"
                let error = error as? GroupCacheError
                let kind = error?.peerID == client.address ? "\(name): node asked unreachable" : "\(name): \(error.map { "\($0.code)" } ?? "other")"
                tally.withLock { tally in
                    tally.failures += 1
                    tally.failuresByKind[kind, default: 0] += 1
                    if name == "get" && error?.peerID != client.address && tally.getFailures.count < 20 {
                        tally.getFailures.append("\(key) at \(client.address): \(error.map { "\($0)" } ?? "?")")
                    }
                }
            }
        }
    }

    var invalid: [String] { tally.withLock { $0.invalid } }
    var getFailures: [String] { tally.withLock { $0.getFailures } }
    var succeededGets: Int { tally.withLock { $0.gets } }

    var summary: String {
        tally.withLock { tally in
            "\(tally.gets) gets, \(tally.sets) sets, \(tally.removes) removes ok; \(tally.failures) failed \(tally.failuresByKind); "
                + "\(tally.invalid.count) invalid values"
        }
    }
}
