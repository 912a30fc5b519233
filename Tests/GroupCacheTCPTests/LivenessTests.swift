@_spi(Transport) import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

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
        // Within the caller's 5 s: past them the get would fail rather than load.
        #expect(try await node.group.get(key, timeout: .seconds(5)).string == "\(key)@\(node.peer.id)")
        #expect(silent.kinds.starts(with: [.get, .ping]), "the peer got \(silent.kinds)")
        #expect(node.group.stats.peerErrors == 1)
        let pool = (node.ring.remotePeers().first { $0.id == peer.id } as! TCPPeerClient).pool
        #expect(pool.health.hungConnections == 1)
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
        #expect(nodes[0].pool(to: nodes[1]).health.hungConnections == 0)
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
        // Only the probes' PINGs reach a down peer.
        let getsBefore = peer.kinds.filter { $0 == .get }.count
        #expect(try await node.group.get(keys[1]).string == "\(keys[1])@\(node.peer.id)")
        // It loaded locally without a word to the peer, so without waiting on it.
        #expect(peer.kinds.filter { $0 == .get }.count == getsBefore)
        #expect(pool.health.hungConnections == 1)
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

    /// A peer that never reads (a listener that never accepts, so the kernel's buffers fill): the queued SET
    /// does not move, and the connection is closed at the write timeout, well before the caller's deadline.
    @Test func aPeerThatReadsNothingHitsTheWriteTimeout() async throws {
        let (listener, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 4)
        defer { withExtendedLifetime(listener) {} }
        let options = TCPClientOptions(pingAfter: .seconds(60), writeTimeout: .milliseconds(200))
        let client = try TCPPeerClient(peer: Peer(id: "deaf", address: "127.0.0.1:\(port)"), options: options)
        let value = CacheValue([UInt8](repeating: 7, count: 32 << 20))
        let started = ContinuousClock.now
        await #expect { try await client.set(group: "g", key: "k", value: value, deadline: .now + .seconds(30)) } throws: {
            ($0 as? GroupCacheError)?.code == .peerUnavailable && "\($0)".contains("read none of its requests")
        }
        let took = ContinuousClock.now - started
        #expect(took < .seconds(10), "the stalled write was given up after \(took)")
        #expect(client.pool.health.failures == 1)
    }

    @Test func connectionsUseKeepalive() throws {
        let (listener, port) = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { withExtendedLifetime(listener) {} }
        let socket = try Socket.connect(host: "127.0.0.1", port: port, timeout: .seconds(1))
        #expect(socket.option(SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(socket.option(Int32(IPPROTO_TCP), TCP_KEEPIDLE) == Socket.keepalive.idleSeconds)
        #expect(socket.option(Int32(IPPROTO_TCP), TCP_KEEPINTVL) == Socket.keepalive.intervalSeconds)
        #expect(socket.option(Int32(IPPROTO_TCP), TCP_KEEPCNT) == Socket.keepalive.probes)
    }

    /// A server at its connection cap refuses with ERROR id 0: the client backs off instead of dialling once
    /// per request, and a few refusals mark the peer down.
    @Test func aRefusalBacksDialsOff() async throws {
        let node = try ServedNode(options: TCPServerOptions(maxConnections: 1))
        let holder = try node.connect()
        try holder.send([Frame(kind: .ping, id: 1)])
        #expect(try await holder.nextFrame() == Frame(kind: .pong, id: 1))
        // A backoff far longer than the test, so that however slowly the 20 gets run, none may dial again.
        let options = TCPClientOptions(reconnectBackoff: .seconds(120), failuresBeforeDown: 100)
        let client = try TCPPeerClient(peer: Peer(id: "full", address: "127.0.0.1:\(node.port)"), options: options)
        for _ in 0..<20 {
            await #expect { try await client.get(group: "things", key: "k", deadline: .now + .seconds(5)) } throws: {
                ($0 as? GroupCacheError)?.code == .peerUnavailable
            }
        }
        let refused = node.server.counters.count(of: .connectionLimit)
        #expect(refused == 1, "20 gets within the backoff dialled \(refused) times")
        #expect(client.pool.health.failures == 1)
        await node.server.shutdown()
    }
}
