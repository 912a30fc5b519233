import ArgumentParser
import Dispatch
import Foundation
import GroupCache
import GroupCacheTCP
import Synchronization

/// `groupcache-demo`: three real nodes on loopback, a thundering herd, and what the cluster did about it.
@main
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groupcache-demo",
        abstract: "Start three groupcache-node processes and show a thundering herd loaded once.",
        discussion: """
            Each node loads a key in --load-ms milliseconds (a stand-in for a slow database) and keeps values \
            for --ttl seconds. The demo sends concurrent gets for the same keys to all three nodes, then shows \
            from the nodes' own stats that every key was loaded once in the cluster, that repeat gets come from \
            memory, what remove and expiry do, and how long hits and peer fetches take. It stops every node it \
            started, also on Ctrl-C, and exits 1 if any check failed.
            """,
        version: swiftGroupCacheVersion
    )

    @Flag(help: "A quick run, for CI.") var short = false
    @Option(help: "How long a load takes, in milliseconds.") var loadMs = 200
    @Option(help: "Seconds until loaded values expire.") var ttl = 4.0

    func run() async throws {
        let keyCount = short ? 5 : 12
        let getsPerKey = short ? 30 : 90
        // Each node reads its own copy of the sample products, made fresh for this run.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("groupcache-demo-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let nodes = try (0..<3).map { index in
            try DemoNode(arguments: [
                "--load-delay-ms", "\(loadMs)", "--ttl-seconds", "\(ttl)",
                "--loader", "sqlite", "--database", folder.appendingPathComponent("node-\(index).sqlite").path,
            ])
        }
        let stopAll = { for node in nodes { node.stop() } }
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        signal(SIGINT, SIG_IGN)
        interrupt.setEventHandler {
            stopAll()
            print("\ninterrupted: every node stopped")
            Foundation.exit(130)
        }
        interrupt.activate()
        defer { stopAll() }

        for node in nodes { try node.setPeers(nodes.map(\.address)) }
        let clients = try nodes.map { try TCPNodeClient(address: $0.address) }
        let names = ["A", "B", "C"]
        print("Three nodes on loopback, each a separate groupcache-node process:")
        for (name, node) in zip(names, nodes) { print("  \(name)  \(node.address)  (pid \(node.process.processIdentifier))") }
        print("Each node loads rows from its own SQLite file of sample products, \(loadMs) ms per load (a stand-in for")
        print("a slow database); values live \(ttl) s.\n")
        var checks: [(String, Bool)] = []

        // 1. The herd.
        let keys = (1...keyCount).map { "product:\($0)" }
        let total = keyCount * getsPerKey
        print("1. A thundering herd: \(getsPerKey) concurrent gets for each of \(keyCount) cold keys, spread over all three nodes")
        let started = ContinuousClock.now
        let values = try await burst(keys: keys, perKey: getsPerKey, clients: clients, label: "gets answered")
        let herdTime = ContinuousClock.now - started
        let afterHerd = try await stats(clients)
        let loads = afterHerd.map(\.localLoads).reduce(0, +)
        print("   \(total) gets answered in \(format(herdTime)); loads in the whole cluster: \(loads) for \(keyCount) keys")
        checks.append(("every key was loaded once", loads == keyCount && values.values.allSatisfy { $0.count == 1 }))

        // 2. Repeat gets.
        print("\n2. The same burst again")
        _ = try await burst(keys: keys, perKey: getsPerKey, clients: clients, label: "gets answered")
        let afterRepeat = try await stats(clients)
        let repeatLoads = afterRepeat.map(\.localLoads).reduce(0, +) - loads
        print("   loads this time: \(repeatLoads): every get came from a node's memory (its main or hot cache)")
        checks.append(("repeat gets were served from memory", repeatLoads == 0))

        // 3. Latency.
        print("\n3. How long a get takes, seen from a client of node A (round trip to A included)")
        let latency = try await measureLatency(clients: clients, nodes: nodes, samples: short ? 20 : 100)
        for (label, p50) in latency { print("   \(label.padding(toLength: 44, withPad: " ", startingAt: 0)) p50 \(format(p50))") }

        // 4. Remove.
        print("\n4. remove(\(keys[0])) at node B: its owner first, then every other node")
        let itemsBefore = try await stats(clients).map { $0.mainCache.items + $0.hotCache.items }.reduce(0, +)
        try await clients[1].remove(CacheKey(keys[0]), group: "things")
        let itemsAfter = try await stats(clients).map { $0.mainCache.items + $0.hotCache.items }.reduce(0, +)
        let loadsBeforeGet = try await stats(clients).map(\.localLoads).reduce(0, +)
        _ = try await clients[2].get(CacheKey(keys[0]), group: "things")
        let reloads = try await stats(clients).map(\.localLoads).reduce(0, +) - loadsBeforeGet
        print("   copies in the cluster: \(itemsBefore) before, \(itemsAfter) after; the next get loaded it again (\(reloads) load)")
        // The owner's main copy and the other two nodes' hot copies.
        checks.append(("remove dropped all three copies and the next get loaded once", itemsBefore - itemsAfter == 3 && reloads == 1))

        // 5. Expiry.
        print("\n5. Expiry: waiting \(ttl) s for the values to expire")
        try await Task.sleep(for: .milliseconds(Int(ttl * 1000) + 200))
        let loadsBeforeExpiry = try await stats(clients).map(\.localLoads).reduce(0, +)
        _ = try await burst(keys: [keys[1]], perKey: getsPerKey, clients: clients, label: "gets answered")
        let expiryLoads = try await stats(clients).map(\.localLoads).reduce(0, +) - loadsBeforeExpiry
        print("   \(getsPerKey) gets of the expired \(keys[1]): \(expiryLoads) load")
        checks.append(("an expired key was loaded again, once", expiryLoads == 1))

        // The nodes' own counters.
        print("\nThe nodes' stats (gcctl stats --node <address> shows the same):")
        let final = try await stats(clients)
        print("   node  gets  hits  local loads  peer loads  peer errors  main items  hot items")
        for (name, stats) in zip(names, final) {
            print(
                "   \(name)   " + [stats.gets, stats.cacheHits, stats.localLoads, stats.peerLoads, stats.peerErrors,
                stats.mainCache.items, stats.hotCache.items].map { String($0).leftPad(5) }.joined(separator: "       "))
        }

        stopAll()
        checks.append(("every node process has ended", nodes.allSatisfy { !$0.process.isRunning }))
        print("\nChecks:")
        for (name, passed) in checks { print("   \(passed ? "ok  " : "FAIL") \(name)") }
        if checks.contains(where: { !$0.1 }) { throw ExitCode.failure }
    }

    /// Sends `perKey` concurrent gets for each key, round-robin over the nodes, with a live count; returns the
    /// values seen per key.
    func burst(keys: [String], perKey: Int, clients: [TCPNodeClient], label: String) async throws -> [String: Set<String>] {
        let total = keys.count * perKey
        let done = Counter()
        let progress = Task {
            while !Task.isCancelled {
                print("\r   \(done.value)/\(total) \(label)", terminator: "")
                fflushOut()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { progress.cancel() }
        let values = try await withThrowingTaskGroup(of: (String, String).self) { tasks in
            for index in 0..<total {
                // Round r asks node r mod 3 for every key, so each key is asked for at every node.
                let key = keys[index % keys.count]
                let client = clients[(index / keys.count) % clients.count]
                tasks.addTask {
                    let value = try await client.get(CacheKey(key), group: "things")
                    done.increment()
                    return (key, value.string)
                }
            }
            return try await tasks.reduce(into: [String: Set<String>]()) { $0[$1.0, default: []].insert($1.1) }
        }
        print("\r   \(total)/\(total) \(label)")
        return values
    }

    func stats(_ clients: [TCPNodeClient]) async throws -> [GroupStats] {
        var all: [GroupStats] = []
        for client in clients { all.append(try await client.stats()["things"] ?? GroupStats()) }
        return all
    }

    /// p50 of gets at node A: of keys A owns (a hit in A's main cache), of keys another node owns that A has in
    /// its hot cache, and of keys another node owns and has, fetched by A for the first time.
    func measureLatency(clients: [TCPNodeClient], nodes: [DemoNode], samples: Int) async throws -> [(String, Duration)] {
        let a = clients[0]
        // Load fresh keys at their owners first (B's client asks B, C's asks C; a routed get loads at the owner).
        let fresh = (0..<samples).map { "product:\(1_000 + $0)" }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for key in fresh { tasks.addTask { _ = try await clients[1].get(CacheKey(key), group: "things") } }
            try await tasks.waitForAll()
        }
        var owned: [Duration] = [], fetched: [Duration] = [], hot: [Duration] = []
        for key in fresh {
            let value = try await a.get(CacheKey(key), group: "things")
            let elapsed = try await time { _ = try await a.get(CacheKey(key), group: "things") }
            if loadedBy(value, nodes[0]) { owned.append(elapsed) } else { hot.append(elapsed) }
        }
        // Keys A does not have yet: B and C loaded them; A fetches each once.
        let others = (0..<samples).map { "product:\(2_000 + $0)" }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for key in others { tasks.addTask { _ = try await clients[1].get(CacheKey(key), group: "things") } }
            try await tasks.waitForAll()
        }
        for key in others {
            var value = CacheValue("")
            let elapsed = try await time { value = try await a.get(CacheKey(key), group: "things") }
            if !loadedBy(value, nodes[0]) { fetched.append(elapsed) }
        }
        return [
            ("hit in A's main cache (A owns the key)", median(owned)),
            ("hit in A's hot cache (another node owns it)", median(hot)),
            ("fetch from the owner (A has no copy yet)", median(fetched)),
        ]
    }

    /// Whether `node` loaded `value` (the node writes its ID into every value it loads).
    func loadedBy(_ value: CacheValue, _ node: DemoNode) -> Bool {
        value.string.contains(#""loadedBy":"http://\#(node.address)""#)
    }

    func time(_ body: () async throws -> Void) async throws -> Duration {
        let start = ContinuousClock.now
        try await body()
        return ContinuousClock.now - start
    }

    func median(_ values: [Duration]) -> Duration { values.isEmpty ? .zero : values.sorted()[values.count / 2] }
}

func format(_ duration: Duration) -> String {
    let microseconds = Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    return microseconds >= 1000 ? String(format: "%.1f ms", microseconds / 1000) : String(format: "%.0f us", microseconds)
}

func fflushOut() {
    FileHandle.standardOutput.synchronizeFile()
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// A count that tasks share.
final class Counter: Sendable {
    private let count = Atomic(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
