import GroupCache
@testable import GroupCacheTCP
import GroupCacheAuth
import GroupCacheWire
import TestSupport
import Testing

/// Authentication over real sockets: who is served, what a stranger gets, and every forged frame.
@Suite(.serialized) struct ClusterSecretTests {
    static let secret = try! ClusterSecrets([Array("the cluster secret, at least 32 bytes long".utf8)])
    static let wrong = try! ClusterSecrets([Array("a different secret, at least 32 bytes long".utf8)])

    static func securedNode(_ options: TCPServerOptions = TCPServerOptions(secrets: secret)) throws -> ServedNode {
        try ServedNode(options: options)
    }

    static func client(of node: ServedNode, secrets: ClusterSecrets?) throws -> TCPPeerClient {
        try TCPPeerClient(
            peer: Peer(id: "127.0.0.1:\(node.port)", address: "127.0.0.1:\(node.port)"),
            options: TCPClientOptions(secrets: secrets))
    }

    static func get(_ client: TCPPeerClient, _ key: String) async throws -> String {
        let value = try await client.get(group: "things", key: CacheKey(key), deadline: .now + .seconds(5))
        return String(decoding: value.bytes, as: UTF8.self)
    }

    @Test func aPeerWithTheSecretIsServed() async throws {
        let node = try Self.securedNode()
        let client = try Self.client(of: node, secrets: Self.secret)
        #expect(try await Self.get(client, "k") == "k!")
        try await client.ping(deadline: .now + .seconds(5))
        try await client.set(group: "things", key: "s", value: CacheValue("v"), flags: [], deadline: .now + .seconds(5))
        #expect(try await Self.get(client, "s") == "v")
        #expect(try await client.stats(deadline: .now + .seconds(5)).groups.count == 1)
        #expect(node.server.counters.count(of: .unauthenticated) == 0)
        #expect(client.pool.stats.authFailures == 0)
    }

    @Test func aClientWithoutTheSecretGetsNothing() async throws {
        let node = try Self.securedNode()
        let client = try Self.client(of: node, secrets: nil)
        await #expect { try await Self.get(client, "k") } throws: { error in
            (error as? GroupCacheError)?.code == .unauthenticated
        }
        #expect(node.loads.value == 0, "no loader ran")
        #expect(node.server.counters.count(of: .unauthenticated) == 1)
        #expect(client.pool.stats.authFailures == 1)
    }

    @Test func aClientWithTheWrongSecretIsRefusedAndBothSidesCountIt() async throws {
        let node = try Self.securedNode()
        let client = try Self.client(of: node, secrets: Self.wrong)
        await #expect { try await Self.get(client, "k") } throws: { error in
            let error = error as? GroupCacheError
            return error?.code == .unauthenticated && error!.message.contains("wrong secret")
                && !error!.message.contains("at least 32 bytes long")
        }
        #expect(node.loads.value == 0)
        #expect(node.server.counters.count(of: .unauthenticated) == 1)
        #expect(client.pool.stats.authFailures == 1)
    }

    @Test func aClientWithASecretNeverFallsBackToAServerWithout() async throws {
        let node = try ServedNode()
        let client = try Self.client(of: node, secrets: Self.secret)
        await #expect { try await Self.get(client, "k") } throws: { error in
            let error = error as? GroupCacheError
            return error?.code == .unauthenticated && error!.message.contains("does not authenticate")
        }
        #expect(node.loads.value == 0)
        // Such a server answers HELLO as any kind it does not know, and keeps the connection.
        let raw = try node.connect()
        try raw.send([Frame(kind: .hello, id: 1, message: Handshake.Client(secrets: Self.secret).hello)])
        #expect(try await raw.nextFrame()?.errorCode == .unsupported)
        try raw.send([Frame(kind: .ping, id: 2)])
        #expect(try await raw.nextFrame()?.kind == .pong)
    }

    /// A stranger's frames get ERROR 9 with id 0 and a close, and change nothing.
    @Test(arguments: ["PING", "GET", "SET", "REMOVE", "STATS", "garbage"])
    func aStrangerGetsUnauthenticatedAndChangesNothing(request: String) async throws {
        let node = try Self.securedNode()
        let group = Array("things".utf8)
        let frame: [UInt8] =
            switch request {
            case "PING": Frame(kind: .ping, id: 1).encoded()
            case "GET": ServedNode.get("k", id: 1, flags: .route).encoded()
            case "SET": Frame(kind: .set, flags: .route, id: 1, message: SetRequest(group: group, key: Array("poison".utf8), value: Array("evil".utf8))).encoded()
            case "REMOVE": Frame(kind: .remove, flags: .route, id: 1, message: RemoveRequest(group: group, key: Array("k".utf8))).encoded()
            case "STATS": Frame(kind: .stats, id: 1).encoded()
            default: [UInt8](repeating: 0x41, count: 4096)
            }
        let raw = try node.connect()
        try? raw.send(frame)
        let answer = try await raw.nextFrame()
        #expect(answer?.kind == .error && answer?.id == 0 && answer?.errorCode == .unauthenticated, "got \(String(describing: answer))")
        #expect(try await raw.closesWithin(.seconds(5)))
        #expect(node.server.counters.count(of: .unauthenticated) == 1)
        #expect(node.loads.value == 0)
        // Nothing was stored: the poisoned key loads from the loader.
        let client = try Self.client(of: node, secrets: Self.secret)
        #expect(try await Self.get(client, "poison") == "poison!")
    }

    @Test func aConnectionWithoutAHandshakeIsClosedAfterTheTimeout() async throws {
        let node = try Self.securedNode(TCPServerOptions(secrets: Self.secret, handshakeTimeout: .milliseconds(200)))
        let raw = try node.connect()
        let answer = try await raw.nextFrame(timeout: .seconds(5))
        #expect(answer?.errorCode == .unauthenticated)
        #expect(try await raw.closesWithin(.seconds(5)))
        #expect(node.server.counters.count(of: .unauthenticated) == 1)
    }

    /// After an honest handshake, a frame altered, replayed, reordered or reflected closes the connection with a
    /// tagged ERROR 9, and what it asked for is not done.
    @Test(arguments: ["flipped bit", "replayed", "reordered", "reflected", "untagged"])
    func aForgedFrameClosesTheConnection(forgery: String) async throws {
        let node = try Self.securedNode()
        let raw = try node.connect()
        var sealer = try await raw.authenticate(with: Self.secret)
        // One honest request first, so that the counts are past zero.
        try raw.send(sealer.seal(ServedNode.get("first", id: 3).encoded()))
        #expect(try await raw.nextFrame()?.value == "first!")
        let set = Frame(kind: .set, id: 4, message: SetRequest(group: Array("things".utf8), key: Array("poison".utf8), value: Array("evil".utf8))).encoded()
        switch forgery {
        case "flipped bit":
            var sealed = sealer.seal(set)
            sealed[sealed.count - 20] ^= 0x01
            try raw.send(sealed)
        case "replayed":
            let sealed = sealer.seal(set)
            try raw.send(sealed)
            #expect(try await raw.nextFrame()?.kind == .setReply)
            try raw.send(sealed)
        case "reordered":
            let first = sealer.seal(ServedNode.get("a", id: 5).encoded())
            let second = sealer.seal(set)
            try raw.send(second + first)
        case "reflected":
            // The server's own reply to the first GET, sent back to it.
            try raw.send(reflectedReply(raw))
        default:
            try raw.send(set)
        }
        var last: Frame?
        while let frame = try await raw.nextFrame() { last = frame }
        #expect(last?.kind == .error && last?.id == 0 && last?.errorCode == .unauthenticated, "got \(String(describing: last))")
        #expect(node.server.counters.count(of: .unauthenticated) == 1)
        if forgery != "replayed" {
            let client = try Self.client(of: node, secrets: Self.secret)
            #expect(try await Self.get(client, "poison") == "poison!", "the forged SET was not applied")
        }
    }

    /// The bytes of the last frame the server sent (the tagged GET_REPLY that answered "first").
    func reflectedReply(_ raw: RawConnection) -> [UInt8] {
        raw.received.withLock { bytes in
            // The stream holds the HELLO_REPLY, then the tagged GET_REPLY.
            let helloLength = 4 + (Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3]))
            return Array(bytes[helloLength...])
        }
    }

    @Test func aPeerWithTheWrongSecretLoadsLocallyAndTheRefusalIsCounted() async throws {
        let a = try TCPNode(client: TCPClientOptions(secrets: Self.secret), server: TCPServerOptions(secrets: Self.secret))
        let b = try TCPNode(client: TCPClientOptions(secrets: Self.wrong), server: TCPServerOptions(secrets: Self.wrong))
        for node in [a, b] { node.ring.setPeers([a.peer, b.peer]) }
        let owned = TCPNode.key(ownedBy: a, in: [a, b])
        let value = try await b.group.get(owned)
        #expect(value.string == "\(owned)@\(b.peer.id)", "b loaded it itself")
        #expect(a.loadCount == 0)
        #expect(b.pool(to: a).stats.authFailures >= 1)
        #expect(a.server.counters.count(of: .unauthenticated) >= 1)
        #expect(b.group.stats.peerErrors >= 1)
    }

    @Test func protectedModeRefusesToListenBeyondLoopbackWithoutASecret() throws {
        #expect { try TCPServer(registry: GroupRegistry()).start(host: "0.0.0.0") } throws: { error in
            let text = "\(error)"
            return error is ProtectedMode && text.contains("--secret-file") && text.contains("--insecure")
        }
        #expect(throws: ProtectedMode.self) { try TCPServer(registry: GroupRegistry()).start(host: "") }
        let loopback = TCPServer(registry: GroupRegistry())
        #expect(try loopback.start(host: "127.0.0.2") > 0)
        let secured = TCPServer(registry: GroupRegistry(), options: TCPServerOptions(secrets: Self.secret))
        #expect(try secured.start(host: "0.0.0.0") > 0)
        let optedOut = TCPServer(registry: GroupRegistry(), options: TCPServerOptions(allowsUnauthenticatedNonLoopback: true))
        #expect(try optedOut.start(host: "0.0.0.0") > 0)
        Task { for server in [loopback, secured, optedOut] { await server.shutdown() } }
    }
}
