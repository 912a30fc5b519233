@_spi(Transport) import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import Synchronization
import TestSupport
import Testing

/// A hung peer told apart from a slow load, over real sockets: the client pings a connection whose peer has
/// gone quiet while requests wait.
@Suite(.serialized) struct LivenessTests {
    static let quick = TCPClientOptions(pingAfter: .milliseconds(50), pingTimeout: .milliseconds(50), probeInterval: .milliseconds(100))

    /// A peer that reads every frame and answers none: the PING goes unanswered, the connection is closed, and
    /// the get loads locally long before the caller's deadline.
    @Test func aPeerThatAnswersNothingIsFoundHungAndTheGetLoadsLocally() async throws {
        let silent = ScriptedPeer { _ in nil }
        let node = try TCPNode(client: Self.quick)
        let peer = Peer(host: "127.0.0.1", port: silent.port, idFormat: .url)
        node.ring.setPeers([node.peer, peer])
        let key = (0...).lazy.map { CacheKey("key-\($0)") }.first { node.ring.ownerPeer(of: $0) == peer }!
        let started = ContinuousClock.now
        #expect(try await node.group.get(key, timeout: .seconds(5)).string == "\(key)@\(node.peer.id)")
        let took = ContinuousClock.now - started
        #expect(took < .seconds(2), "the fallback waited \(took)")
        #expect(silent.kinds.starts(with: [.get, .ping]), "the peer got \(silent.kinds)")
        #expect(node.group.stats.peerErrors == 1)
        let pool = (node.ring.remotePeers().first { $0.id == peer.id } as! TCPPeerClient).pool
        #expect(pool.counters.hungConnections.load(ordering: .relaxed) == 1)
        await node.server.shutdown()
    }

    /// An owner whose loader takes longer than the ping rule's limits answers the PINGs: the caller waits for
    /// the owner's value, and the key is loaded once, at the owner.
    @Test func aSlowOwnerThatAnswersPingsIsWaitedFor() async throws {
        let nodes = try TCPNode.cluster(2, client: Self.quick)
        let key = TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "slow")
        let get = Task { try await nodes[0].group.get(key, timeout: .seconds(5)).string }
        // Hold the load for six times the ping rule's 100 ms before it lets go.
        try await Task.sleep(for: .milliseconds(600))
        nodes[1].gate.open()
        #expect(try await get.value == "\(key)@\(nodes[1].peer.id)")
        #expect(nodes[0].loadCount == 0 && nodes[1].loadCount == 1)
        #expect(nodes[0].group.stats.peerErrors == 0)
        let counters = nodes[0].pool(to: nodes[1]).counters
        let pings = counters.livenessPings.load(ordering: .relaxed)
        #expect(pings >= 2, "the owner was pinged \(pings) times")
        #expect(counters.hungConnections.load(ordering: .relaxed) == 0)
        for node in nodes { await node.server.shutdown() }
    }

    /// After the hang the peer is marked down: the next get loads locally at once. Probes bring the peer back
    /// once it answers, and gets go to it again.
    @Test func aHungPeerIsMarkedDownThenProbedBack() async throws {
        let silent = Atomic(true)
        let peer = ScriptedPeer { frame in
            if silent.load(ordering: .relaxed) { return nil }
            switch frame.kind {
            case .ping: return Frame(kind: .pong, id: frame.id)
            default: return Frame(kind: .getReply, id: frame.id, message: GetResponse(value: Array("from the peer".utf8)))
            }
        }
        let node = try TCPNode(client: Self.quick)
        let member = Peer(host: "127.0.0.1", port: peer.port, idFormat: .url)
        node.ring.setPeers([node.peer, member])
        let keys = Array((0..<1_000).map { CacheKey("key-\($0)") }.filter { node.ring.ownerPeer(of: $0) == member }.prefix(3))
        let pool = (node.ring.remotePeers().first { $0.id == member.id } as! TCPPeerClient).pool
        _ = try await node.group.get(keys[0])
        #expect(pool.health.isDown && pool.health.trips == 1)
        let started = ContinuousClock.now
        #expect(try await node.group.get(keys[1]).string == "\(keys[1])@\(node.peer.id)")
        let took = ContinuousClock.now - started
        #expect(took < .milliseconds(50), "a get of a down peer's key waited \(took)")
        #expect(pool.connectionCount == 0, "a down peer's connections are closed")

        silent.store(false, ordering: .relaxed)
        var waited = 0
        while pool.health.isDown && waited < 200 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(!pool.health.isDown, "no probe brought the peer back in 2 s")
        #expect(pool.health.recoveries == 1 && pool.health.probes >= 1)
        #expect(try await node.group.get(keys[2]).string == "from the peer")
        await node.server.shutdown()
    }
}
