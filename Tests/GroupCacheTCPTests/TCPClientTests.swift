@_spi(Transport) import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import TestSupport
import Testing

/// A node in this process: its groups behind a real TCP server, its peers reached over real sockets.
final class TCPNode: Sendable {
    let server: TCPServer
    let ring: PeerRing
    let registry: GroupRegistry
    let group: Group
    let peer: Peer
    let gate: Gate
    let loads: Counter

    init(
        client: TCPClientOptions = TCPClientOptions(), options: GroupOptions = GroupOptions(), cacheBytes: Int = 1 << 20,
        server serverOptions: TCPServerOptions = TCPServerOptions()
    ) throws {
        // The server must listen before the node knows its own address; the registry needs the ring first.
        let picker = DeferredPeerPicker()
        registry = GroupRegistry(peers: picker)
        server = TCPServer(registry: registry, options: serverOptions)
        let port = try server.start()
        peer = Peer(host: "127.0.0.1", port: port, idFormat: .url)
        let ring = TCPTransport(options: client).makePeerRing(local: peer)
        self.ring = ring
        picker.setPicker(ring)
        let counter = Counter(), gate = Gate(), name = peer.id
        self.gate = gate
        loads = counter
        group = try registry.makeGroup(name: "things", cacheBytes: cacheBytes, options: options) { key, _ in
            counter.increment()
            if key.description.hasPrefix("slow") { await gate.wait() }
            return CacheValue("\(key)@\(name)")
        }
    }

    var loadCount: Int { loads.value }

    /// The pool this node uses to reach `other`.
    func pool(to other: TCPNode) -> ConnectionPool {
        (ring.remotePeers().first { $0.id == other.peer.id } as! TCPPeerClient).pool
    }

    static func cluster(_ size: Int, client: TCPClientOptions = TCPClientOptions()) throws -> [TCPNode] {
        let nodes = try (0..<size).map { _ in try TCPNode(client: client) }
        for node in nodes { node.ring.setPeers(nodes.map(\.peer)) }
        return nodes
    }

    /// A key that `owner` owns.
    static func key(ownedBy owner: TCPNode, in nodes: [TCPNode], prefix: String = "key") -> CacheKey {
        (0...).lazy.map { CacheKey("\(prefix)-\($0)") }.first { nodes[0].ring.ownerPeer(of: $0) == owner.peer }!
    }
}

@Suite(.serialized) struct TCPClientTests {
    @Test func aGetAtANonOwnerIsLoadedByTheOwnerOnce() async throws {
        let nodes = try TCPNode.cluster(2)
        let key = TCPNode.key(ownedBy: nodes[1], in: nodes)
        let values = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<200 {
                let group = nodes[index % 2].group
                tasks.addTask { try await group.get(key).string }
            }
            return try await tasks.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(values) == ["\(key)@\(nodes[1].peer.id)"])
        #expect(nodes[1].loadCount == 1 && nodes[0].loadCount == 0)
        #expect(nodes.map(\.group.stats.peerErrors) == [0, 0])
        #expect(nodes[0].group.stats.hotCache.items == 1)
        for node in nodes { await node.server.shutdown() }
    }

    @Test func manyRequestsShareOneConnectionAndRepliesComeOutOfOrder() async throws {
        let nodes = try TCPNode.cluster(2, client: TCPClientOptions(maxConnectionsPerPeer: 1))
        let slow = TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "slow")
        let fast = (0..<100).map { TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "fast\($0)") }
        let slowGet = Task { try await nodes[0].group.get(slow).string }
        #expect(await eventually { nodes[1].loadCount == 1 })
        // The slow request is in flight on the only connection; 100 more pass it.
        let values = try await withThrowingTaskGroup(of: String.self) { tasks in
            for key in fast { tasks.addTask { try await nodes[0].group.get(key).string } }
            return try await tasks.reduce(into: []) { $0.append($1) }
        }
        #expect(values.count == 100)
        nodes[1].gate.open()
        #expect(try await slowGet.value == "\(slow)@\(nodes[1].peer.id)")
        #expect(nodes[0].pool(to: nodes[1]).peakConnectionCount == 1)
        for node in nodes { await node.server.shutdown() }
    }

    @Test func aCancelledCallerReturnsPromptlyAndTheConnectionServesOn() async throws {
        let nodes = try TCPNode.cluster(2, client: TCPClientOptions(maxConnectionsPerPeer: 1))
        let slow = TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "slow")
        let caller = Task { try await nodes[0].ring.owner(of: slow)!.get(group: "things", key: slow, deadline: .now + .seconds(30)) }
        #expect(await eventually { nodes[1].loadCount == 1 })
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        for index in 0..<100 {
            let key = TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "after\(index)")
            #expect(try await nodes[0].group.get(key).string == "\(key)@\(nodes[1].peer.id)")
        }
        #expect(nodes[0].pool(to: nodes[1]).peakConnectionCount == 1)
        nodes[1].gate.open()
        for node in nodes { await node.server.shutdown() }
    }

    @Test func thePoolNeverExceedsItsBound() async throws {
        let options = TCPClientOptions(maxConnectionsPerPeer: 3, requestsPerConnectionBeforeGrowing: 1)
        let nodes = try TCPNode.cluster(2, client: options)
        let keys = (0..<200).map { TCPNode.key(ownedBy: nodes[1], in: nodes, prefix: "slow\($0)") }
        let gets = Task {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for key in keys { tasks.addTask { _ = try await nodes[0].group.get(key) } }
                try await tasks.waitForAll()
            }
        }
        #expect(await eventually { nodes[1].loadCount == 200 })
        let pool = nodes[0].pool(to: nodes[1])
        #expect(pool.peakConnectionCount == 3, "got \(pool.peakConnectionCount) connections; want 3")
        #expect(nodes[1].server.connectionCount == 3)
        nodes[1].gate.open()
        try await gets.value
        for node in nodes { await node.server.shutdown() }
    }

    @Test func aRefusingPeerFailsFastAndTheGetLoadsLocally() async throws {
        let nodes = try TCPNode.cluster(2)
        await nodes[1].server.shutdown()
        let key = TCPNode.key(ownedBy: nodes[1], in: nodes)
        let client = nodes[0].ring.owner(of: key)!
        await #expect { try await client.get(group: "things", key: key, deadline: .now + .seconds(5)) } throws: {
            ($0 as? GroupCacheError)?.code == .peerUnavailable
        }
        // Within the backoff the pool does not dial again.
        let started = ContinuousClock.now
        await #expect { try await client.get(group: "things", key: key, deadline: .now + .seconds(5)) } throws: {
            ($0 as? GroupCacheError)?.message.contains("unreachable") == true
        }
        #expect(ContinuousClock.now - started < .milliseconds(100))
        #expect(try await nodes[0].group.get(key).string == "\(key)@\(nodes[0].peer.id)")
        #expect(nodes[0].group.stats.peerErrors == 1)
        await nodes[0].server.shutdown()
    }

    @Test func aPeerThatStopsAnsweringCostsOnlyThePeerTimeout() async throws {
        let nodes = try TCPNode.cluster(2, client: TCPClientOptions())
        let fallback = try TCPNode(options: GroupOptions(peerTimeout: .milliseconds(50)))
        fallback.ring.setPeers(nodes.map(\.peer) + [fallback.peer])
        let key = (0...).lazy.map { CacheKey("slow-\($0)") }.first { fallback.ring.ownerPeer(of: $0) == nodes[1].peer }!
        fallback.gate.open()
        // The owner's loader hangs; the caller gives up on it after 50 ms and loads the key itself.
        #expect(try await fallback.group.get(key).string == "\(key)@\(fallback.peer.id)")
        #expect(fallback.group.stats.peerErrors == 1)
        nodes[1].gate.open()
        for node in nodes + [fallback] { await node.server.shutdown() }
    }

    /// Large frames from many callers at once on one connection: the socket fills, the write source takes over,
    /// and frames batched meanwhile follow whole and in order.
    @Test func concurrentLargeWritesArriveIntact() async throws {
        let server = try TCPNode(cacheBytes: 64 << 20)
        let caller = try TCPNode(client: TCPClientOptions(maxConnectionsPerPeer: 1))
        caller.ring.setPeers([server.peer, caller.peer])
        let client = caller.ring.remotePeers()[0]
        // Built by doubling, not byte by byte: debug builds are slow at 20 MiB of closures.
        let values = (0..<20).map { index in repeated([UInt8(index), 1, 2, 3, 5, 8, 13, 21, 34], toCount: 1 << 20) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for (index, value) in values.enumerated() {
                tasks.addTask {
                    try await client.set(group: "things", key: CacheKey("big-\(index)"), value: CacheValue(value), deadline: .now + .seconds(30))
                }
            }
            try await tasks.waitForAll()
        }
        for (index, value) in values.enumerated() {
            #expect(server.group.serveCachedGet(CacheKey("big-\(index)"))?.bytes == value, "value \(index) differs")
        }
        #expect(caller.pool(to: server).peakConnectionCount == 1)
        for node in [server, caller] { await node.server.shutdown() }
    }

    @Test func writesReachEveryNodeAndExpiryCrossesTheWire() async throws {
        let nodes = try TCPNode.cluster(3)
        let key = TCPNode.key(ownedBy: nodes[2], in: nodes)
        let expiry: Int64 = 4_000_000_000_123_456_789
        try await nodes[0].group.set(key, to: CacheValue(Array("set".utf8), expiryNanoseconds: expiry))
        for node in nodes {
            let value = try #require(node.group.serveCachedGet(key))
            #expect(value.string == "set" && value.expiryNanoseconds == expiry)
        }
        try await nodes[1].group.remove(key)
        #expect(nodes.allSatisfy { $0.group.serveCachedGet(key) == nil })
        try await nodes[1].group.set(key, to: CacheValue("again"))
        try await nodes[0].group.removeKeys([key, "other"])
        #expect(nodes.allSatisfy { $0.group.serveCachedGet(key) == nil })
        for node in nodes { await node.server.shutdown() }
    }
}

@Suite(.serialized) struct TCPClientFallbackTests {
    /// An older peer without REMOVE_KEYS: the client sends one REMOVE per key instead, and remembers.
    @Test func removeKeysFallsBackToRemovesForAPeerWithoutIt() async throws {
        let peer = ScriptedPeer { frame in
            switch frame.kind {
            case .remove: Frame(kind: .removeReply, id: frame.id)
            default: Frame(kind: .error, id: frame.id, message: ErrorResponse(code: .unsupported, message: "no"))
            }
        }
        let client = try TCPPeerClient(peer: Peer(id: "old", address: "127.0.0.1:\(peer.port)"), options: TCPClientOptions())
        try await client.removeKeys(group: "g", keys: ["a", "b", "c"], deadline: .now + .seconds(5))
        #expect(peer.kinds == [.removeKeys, .remove, .remove, .remove], "got \(peer.kinds)")
        try await client.removeKeys(group: "g", keys: ["d"], deadline: .now + .seconds(5))
        #expect(peer.kinds.filter { $0 == .removeKeys }.count == 1, "asked for REMOVE_KEYS again: \(peer.kinds)")
        #expect(peer.kinds.count == 5)
    }

    /// Codes a client does not know are peer errors, not the loader's verdict.
    @Test func anUnknownErrorCodeIsAPeerProtocolError() async throws {
        let peer = ScriptedPeer { frame in
            Frame(kind: .error, id: frame.id, message: ErrorResponse(code: ErrorCode(rawValue: 77), message: "new"))
        }
        let client = try TCPPeerClient(peer: Peer(id: "new", address: "127.0.0.1:\(peer.port)"), options: TCPClientOptions())
        await #expect { try await client.get(group: "g", key: "k", deadline: .now + .seconds(5)) } throws: {
            ($0 as? GroupCacheError)?.code == .peerProtocol
        }
    }

    @Test func aServerAtItsConnectionLimitRefusesTheNextOne() async throws {
        let node = try ServedNode(options: TCPServerOptions(maxConnections: 1))
        let first = try node.connect()
        try first.send([Frame(kind: .ping, id: 1)])
        #expect(try await first.nextFrame() == Frame(kind: .pong, id: 1))
        let second = try node.connect()
        let refusal = try #require(try await second.nextFrame())
        #expect(refusal.id == 0 && refusal.errorCode == .unavailable)
        #expect(try await second.closesWithin(.seconds(5)))
        try first.send([Frame(kind: .ping, id: 2)])
        #expect(try await first.nextFrame() == Frame(kind: .pong, id: 2))
        await node.server.shutdown()
    }
}
