@_spi(Transport) import GroupCache
@testable import GroupCacheTCP
import TestSupport
import Testing
import GroupCacheLock

/// The ring changes while gets, sets and removes are in flight, over real sockets: nothing deadlocks, every
/// request ends, and no node loads a key twice.
@Suite(.serialized) struct MembershipTests {
    /// Which node loaded which key, in order.
    final class LoadLog: Sendable {
        private let loads = Lock<[String: [Int]]>([:])
        func record(_ key: String, at node: Int) { loads.withLock { $0[key, default: []].append(node) } }
        var all: [String: [Int]] { loads.withLock { $0 } }
    }

    /// How many requests ended each way.
    final class Outcomes: Sendable {
        private let counts = Lock<[String: Int]>([:])
        func count(_ outcome: String) { counts.withLock { $0[outcome, default: 0] += 1 } }
        var all: [String: Int] { counts.withLock { $0 } }
    }

    @Test func theRingChangesUnderLoad() async throws {
        let log = LoadLog()
        let servers = try (0..<4).map { index in try LoggingNode(index: index, log: log) }
        let everyone = servers.map(\.peer)
        for server in servers { server.ring.setPeers(everyone) }
        let generations = 20
        let outcomes = Outcomes()
        let count = outcomes.count

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // Each generation leaves one node out of every ring (its own included: a node is always a member
                // of its own), one node after another, so that nodes disagree while the change spreads.
                for generation in 1...generations {
                    try await Task.sleep(for: .milliseconds(50))
                    let members = everyone.enumerated().filter { $0.offset != generation % 4 }.map(\.element)
                    for server in servers { server.ring.setPeers(members) }
                }
            }
            for worker in 0..<32 {
                tasks.addTask {
                    var random = SplitMix64(seed: UInt64(worker))
                    for _ in 0..<150 {
                        let node = servers[Int.random(in: 0..<4, using: &random)]
                        let key = CacheKey("get-\(Int.random(in: 0..<100, using: &random))")
                        do {
                            let value = try await node.group.get(key, timeout: .seconds(5)).string
                            count(value.hasPrefix("\(key)@") ? "get" : "wrong value \(value)")
                        } catch {
                            count("get failed: \(error)")
                        }
                    }
                }
            }
            for worker in 0..<8 {
                tasks.addTask {
                    var random = SplitMix64(seed: 1_000 + UInt64(worker))
                    for round in 0..<60 {
                        let node = servers[Int.random(in: 0..<4, using: &random)]
                        let key = CacheKey("write-\(worker)-\(round % 10)")
                        do {
                            if round % 2 == 0 {
                                try await node.group.set(key, to: CacheValue("v\(round)"), timeout: .seconds(5))
                            } else {
                                try await node.group.remove(key, timeout: .seconds(5))
                            }
                            count("write")
                        } catch let error as GroupCacheError where error.code == .deadlineExceeded {
                            count("write timed out: \(error)")
                        } catch {
                            // A peer that just left the ring may refuse nothing, but one the change caught closing
                            // may fail a write; the write then names it, which is all a write promises.
                            count("write failed")
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let ended = outcomes.all
        #expect(ended["get"] == 32 * 150, "gets: \(ended.filter { $0.key != "write" })")
        #expect(ended["write", default: 0] + ended["write failed", default: 0] == 8 * 60, "writes: \(ended)")
        // A node caches what it loads and nothing here removes or evicts a get-* key: each node loads each key
        // at most once, whichever generation's ring sent the request there.
        for (key, nodes) in log.all where key.hasPrefix("get-") {
            #expect(nodes.count == Set(nodes).count, "\(key) was loaded more than once at a node: \(nodes)")
        }
        for server in servers { await server.server.shutdown() }
    }
}

/// The same over three `groupcache-node` processes, their rings changed through their standard input.
@Suite(.serialized) struct MembershipProcessTests {
    @Test func theRingChangesUnderLoadAcrossProcesses() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let clients = try nodes.map { try NodeClient($0) }
        let everyone = nodes.map(\.address)
        let failures = MembershipTests.Outcomes()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // 10 generations, each leaving one node out of every ring (a node keeps itself in its own).
                for generation in 1...10 {
                    try await Task.sleep(for: .milliseconds(100))
                    let members = everyone.enumerated().filter { $0.offset != generation % 3 }.map(\.element)
                    try await offThePool { for node in nodes { try node.setPeers(members) } }
                }
            }
            for worker in 0..<16 {
                tasks.addTask {
                    var random = SplitMix64(seed: 77 + UInt64(worker))
                    for round in 0..<100 {
                        let client = clients[Int.random(in: 0..<3, using: &random)]
                        do {
                            if worker < 12 {
                                let key = "get-\(Int.random(in: 0..<60, using: &random))"
                                let value = String(decoding: try await client.get(key).value, as: UTF8.self)
                                if !value.hasPrefix("\(key)@") { failures.count("wrong value \(value)") }
                            } else if round % 2 == 0 {
                                try await client.remove("write-\(worker)-\(round % 10)")
                            } else {
                                _ = try await client.stats()  // a request of each kind crosses the changes
                            }
                        } catch {
                            failures.count("\(error)")
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(failures.all.isEmpty, "requests that failed or came back wrong: \(failures.all)")
        // Nothing removes or evicts a get-* key: each node loads each of the 60 at most once.
        let loads = try await clients.asyncMap { try await $0.stats().localLoads }
        #expect(loads.allSatisfy { $0 <= 60 }, "local loads per node: \(loads)")
    }
}

/// A node whose loader logs each load.
final class LoggingNode: Sendable {
    let server: TCPServer
    let ring: PeerRing
    let group: Group
    let peer: Peer

    init(index: Int, log: MembershipTests.LoadLog) throws {
        let picker = DeferredPeerPicker()
        let registry = GroupRegistry(peers: picker)
        server = TCPServer(registry: registry)
        let port = try server.start()
        peer = Peer(host: "127.0.0.1", port: port, idFormat: .url)
        ring = TCPTransport().makePeerRing(local: peer)
        picker.setPicker(ring)
        let name = peer.id
        group = try registry.makeGroup(name: "things", cacheBytes: 64 << 20) { key, _ in
            log.record(key.description, at: index)
            return CacheValue("\(key)@\(name)")
        }
    }
}
