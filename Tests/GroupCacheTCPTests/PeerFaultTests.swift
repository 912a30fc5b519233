import Foundation
import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import Synchronization
import TestSupport
import Testing
import GroupCacheLock

/// Peers that hang or load slowly, as real `groupcache-node` processes with default options.
@Suite(.serialized) struct PeerFaultTests {
    /// A hung owner (SIGSTOP): its sockets stay open and nothing answers. A get of its key at another node
    /// returns that node's own load well within the caller's 5 s, and the owner is marked down.
    @Test func aHungOwnerCostsAGetLessThanItsDeadline() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let asked = try NodeClient(nodes[0])
        let key = nodes[2].ownedKey(among: nodes)
        // A first get opens node 0's connection to the owner, so the hang catches a connection in use.
        _ = try await asked.get(nodes[2].ownedKey(among: nodes, prefix: "warm"))
        try nodes[2].suspend()
        defer { nodes[2].resume() }
        let started = ContinuousClock.now
        let value = String(decoding: try await asked.get(key, timeout: .seconds(10)).value, as: UTF8.self)
        let took = ContinuousClock.now - started
        #expect(value == "\(key)@http://\(nodes[0].address)")
        // The figure, for a normal build; a sanitizer build (several times slower) must still beat the
        // caller's deadline, which the value above shows.
        if !Sanitizer.isActive { #expect(took < .milliseconds(2_500), "the get took \(took)") }
        // The hang marked the owner down: the next get of its keys loads locally without asking it, so without
        // waiting (no connection to it; probes use connections of their own, outside the pool).
        let owner = "http://\(nodes[2].address)"
        let before = try #require(try await asked.peerStats(owner))
        #expect(before.isDown && before.trips == 1 && before.hungConnections == 1 && before.connections == 0)
        let next = nodes[2].ownedKey(among: nodes, prefix: "next")
        #expect(String(decoding: try await asked.get(next).value, as: UTF8.self) == "\(next)@http://\(nodes[0].address)")
        #expect(try await asked.stats().peerErrors == 2)
        let down = try #require(try await asked.peerStats(owner))
        #expect(down.isDown && down.connections == 0 && down.trips == 1)

        // Running again, the owner answers a probe within a second or so, and serves its keys again.
        nodes[2].resume()
        var peer = down
        for _ in 0..<100 where peer.isDown {
            try await Task.sleep(for: .milliseconds(50))
            peer = try #require(try await asked.peerStats(owner))
        }
        #expect(!peer.isDown && peer.recoveries == 1 && peer.probes >= 1, "\(peer)")
        let back = nodes[2].ownedKey(among: nodes, prefix: "back")
        #expect(String(decoding: try await asked.get(back).value, as: UTF8.self) == "\(back)@\(owner)")
    }

    /// A healthy owner whose loader takes 2 s: the asking node waits for it (the owner answers its PINGs), and
    /// the key is loaded once in the whole cluster.
    @Test func aSlowOwnerIsWaitedForAndLoadsOnce() async throws {
        let nodes = try await NodeProcess.cluster(3, arguments: ["--load-delay-ms", "2000"])
        let clients = try nodes.map { try NodeClient($0) }
        let key = nodes[1].ownedKey(among: nodes)
        let value = String(decoding: try await clients[0].get(key, timeout: .seconds(10)).value, as: UTF8.self)
        #expect(value == "\(key)@http://\(nodes[1].address)")
        let stats = try await clients.asyncMap { try await $0.stats() }
        #expect(stats.map(\.localLoads) == [0, 1, 0])
        #expect(stats.map(\.peerErrors) == [0, 0, 0])
    }

    /// A remove that could not reach a hung peer reaches it once the peer runs again, with no expiry involved.
    @Test func aRemoveReachesAPeerThatWasHungOnceItAnswers() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let clients = try nodes.map { try NodeClient($0) }
        let key = nodes[1].ownedKey(among: nodes)
        for client in clients { _ = try await client.get(key) }
        try nodes[2].suspend()
        await #expect(throws: GroupCacheError.self) { try await clients[0].remove(key) }
        #expect(try await clients[0].stats().removesPending == 1)
        nodes[2].resume()
        // The REMOVE sent before the hang was found may still sit in the peer's socket; the retry is what the
        // asking node counts once the peer (probed back up) takes it.
        var asked = try await clients[0].stats()
        for _ in 0..<200 where asked.removesPending > 0 {
            try await Task.sleep(for: .milliseconds(50))
            asked = try await clients[0].stats()
        }
        #expect(asked.removesPending == 0 && asked.removesRetried == 1, "\(asked)")
        let peer = try await clients[2].stats()
        #expect(peer.mainCache.items + peer.hotCache.items == 0, "the peer still holds the removed key")
    }

    /// gcctl names each node as what it is: the node it asked answered, but the key's owner failed (here its
    /// loader outlasts the asked node's 5 s): exit code 4, not "unreachable".
    @Test func gcctlTellsAFailedOwnerFromAnUnreachableNode() async throws {
        let asked = try await NodeProcess.start()
        let owner = try await NodeProcess.start(arguments: ["--load-delay-ms", "6000"])
        for node in [asked, owner] { try node.setPeers([asked.address, owner.address]) }
        let key = owner.ownedKey(among: [asked, owner])
        let run = try await GroupCacheControlTests.gcctl(["get", key, "--node", asked.address])
        #expect(run.status == 4, "got \(run.status): \(run.errors)")
        #expect(run.errors.hasPrefix("gcctl: node \(asked.address) answered, but the owner http://\(owner.address) failed"), "got \(run.errors)")
    }
}

/// A peer restarted over and over while requests to it and to another peer are in flight: every frame reaches
/// the socket it was written for (a descriptor closed twice, or closed while a writer still flushes, could hand
/// a reused number, and with it a frame, to another connection).
@Suite(.serialized) struct PeerRestartTests {
    @Test func framesReachTheirOwnPeerWhileOneRestartsEvery200ms() async throws {
        let stable = try await NodeProcess.start()
        let restarting = Restarting(try await NodeProcess.start())
        let address = restarting.address
        // Failures here are the point: keep the breaker from taking the restarting peer out.
        let options = TCPClientOptions(reconnectBackoff: .milliseconds(5), failuresBeforeDown: .max)
        let toRestarting = try TCPPeerClient(peer: Peer(id: address, address: address), options: options)
        let toStable = try TCPPeerClient(peer: Peer(id: stable.address, address: stable.address), options: options)
        let stableID = "http://\(stable.address)"
        let (sets, gets, wrong, done) = (Counter(), Counter(), Wrong(), Flag())

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // 15 restarts, 200 ms apart, each once the incarnation before took a SET (up to 2 s): on a slow
                // machine (the sanitizer run) a node may take most of 200 ms to start.
                for _ in 0..<15 {
                    let before = sets.value
                    try await Task.sleep(for: .milliseconds(200))
                    for _ in 0..<180 where sets.value == before { try await Task.sleep(for: .milliseconds(10)) }
                    try await offThePool { try restarting.restart() }
                }
                done.set()
            }
            for task in 0..<64 {
                tasks.addTask {
                    var round = 0
                    while !done.isSet {
                        round += 1
                        let key = CacheKey("restarting-\(task)-\(round)")
                        let value = CacheValue("for \(address)")
                        if (try? await toRestarting.set(group: "things", key: key, value: value, deadline: .now + .seconds(1))) != nil {
                            sets.increment()
                        } else {
                            try await Task.sleep(for: .milliseconds(2))  // not a busy loop while the peer is down
                        }
                    }
                }
                tasks.addTask {
                    var round = 0
                    while !done.isSet {
                        round += 1
                        let key = CacheKey("stable-\(task)-\(round % 50)")
                        let value = try await toStable.get(group: "things", key: key, deadline: .now + .seconds(5)).string
                        if value != "\(key)@\(stableID)" { wrong.add("GET \(key) → \(value)") }
                        gets.increment()
                    }
                }
            }
            try await tasks.waitForAll()
        }
        #expect(wrong.all.isEmpty, "replies from the wrong peer: \(wrong.all.prefix(5))")
        #expect(sets.value >= 15 && gets.value > 100, "too few requests to tell: \(sets.value) SETs, \(gets.value) GETs")
        // No SET meant for the restarting peer landed on the stable one: each of its keys loads afresh there.
        for task in 0..<64 {
            let key = CacheKey("restarting-\(task)-1")
            let value = try await toStable.get(group: "things", key: key, deadline: .now + .seconds(5)).string
            #expect(value == "\(key)@\(stableID)", "the stable peer holds a SET meant for the other: \(value)")
        }
        // Every item at the stable peer is one it loaded itself: a SET that strayed there would be one more.
        let stats = try await NodeClient(stable).stats()
        #expect(stats.mainCache.items + stats.mainCache.evictions == stats.localLoads, "\(stats)")
    }

    /// The node being restarted, on the same address each time.
    final class Restarting: Sendable {
        let address: String
        private let node: Lock<NodeProcess>

        init(_ node: NodeProcess) {
            address = node.address
            self.node = Lock(node)
        }

        func restart() throws {
            try node.withLock { node in
                node.kill()
                node = try NodeProcess(listen: address)
            }
        }
    }

    final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    final class Wrong: Sendable {
        private let lines = Lock<[String]>([])
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }
}
