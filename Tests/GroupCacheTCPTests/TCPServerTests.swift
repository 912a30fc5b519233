import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import Synchronization
import TestSupport
import Testing

/// A server on 127.0.0.1 with one group, "things", whose loader answers "<key>!" and holds keys starting with
/// "slow" until `gate` opens.
final class ServedNode: Sendable {
    let registry = GroupRegistry()
    let server: TCPServer
    let port: Int
    let gate = Gate()
    let loads = Counter()

    init(options: TCPServerOptions = TCPServerOptions()) throws {
        server = TCPServer(registry: registry, options: options)
        port = try server.start()
        // The loader captures what it uses, not the node: the node holds the registry, which holds the loader.
        let (loads, gate) = (self.loads, self.gate)
        try registry.makeGroup(name: "things", cacheBytes: 1 << 20) { key, _ in
            loads.increment()
            if key.description.hasPrefix("slow") { await gate.wait() }
            if key.description.hasPrefix("missing") { throw GroupCacheError.notFound(key) }
            let expiry = key.description.hasPrefix("expiring") ? 4_000_000_000_123_456_789 : Int64(0)
            return CacheValue(Array("\(key)!".utf8), expiryNanoseconds: expiry)
        }
    }

    func connect() throws -> RawConnection { try RawConnection(port: port) }

    static func get(_ key: String, id: UInt32, group: String = "things", flags: FrameFlags = []) -> Frame {
        Frame(kind: .get, flags: flags, id: id, message: GetRequest(group: Array(group.utf8), key: Array(key.utf8)))
    }
}

extension Frame {
    var value: String? {
        guard kind == .getReply, let response = try? GetResponse.decode(from: payload) else { return nil }
        return String(decoding: response.value, as: UTF8.self)
    }

    var errorCode: ErrorCode? {
        guard kind == .error else { return nil }
        return (try? ErrorResponse.decode(from: payload))?.code
    }
}

@Suite(.serialized) struct TCPServerTests {
    @Test func pingGetsPong() async throws {
        let node = try ServedNode()
        let connection = try node.connect()
        try connection.send([Frame(kind: .ping, id: 7)])
        #expect(try await connection.nextFrame() == Frame(kind: .pong, id: 7))
        await node.server.shutdown()
    }

    @Test func aGetLoadsOnceAndCarriesItsExpiryInNanoseconds() async throws {
        let node = try ServedNode()
        let connection = try node.connect()
        try connection.send([ServedNode.get("expiring-1", id: 1)])
        let first = try #require(try await connection.nextFrame())
        try connection.send([ServedNode.get("expiring-1", id: 2)])
        let second = try #require(try await connection.nextFrame())
        for (frame, id) in [(first, UInt32(1)), (second, 2)] {
            #expect(frame.kind == .getReply && frame.id == id)
            let response = try GetResponse.decode(from: frame.payload)
            #expect(response == GetResponse(value: Array("expiring-1!".utf8), expire: 4_000_000_000_123_456_789))
        }
        #expect(node.loads.value == 1)
        await node.server.shutdown()
    }

    @Test func pipelinedRequestsAreAnsweredInOrderOfCompletion() async throws {
        let node = try ServedNode()
        let connection = try node.connect()
        // One write: a slow load first, then 20 requests that need no waiting.
        try connection.send([ServedNode.get("slow-1", id: 100)] + (1...20).map { Frame(kind: .ping, id: UInt32($0)) })
        let quick = try await connection.frames(20)
        #expect(quick.map(\.id) == Array(1...20), "got \(quick.map(\.id))")
        node.gate.open()
        let slow = try #require(try await connection.nextFrame())
        #expect(slow.id == 100 && slow.value == "slow-1!")
        await node.server.shutdown()
    }

    @Test func errorsKeepTheConnectionOpen() async throws {
        let node = try ServedNode()
        let connection = try node.connect()
        try connection.send([
            Frame(kind: FrameKind(rawValue: 0x42), id: 1, payload: [1, 2, 3]),
            ServedNode.get("k", id: 2, group: "nope"),
            ServedNode.get("missing-1", id: 3),
            Frame(kind: .ping, id: 4),
        ])
        let frames = try await connection.frames(4).sorted { $0.id < $1.id }
        #expect(frames.map(\.errorCode) == [.unsupported, .noSuchGroup, .notFound, nil])
        #expect(frames[3] == Frame(kind: .pong, id: 4))
        await node.server.shutdown()
    }

    /// A group name that is not UTF-8 names no group, not even the one its lossy decoding would spell.
    @Test func aGroupNameThatIsNotUTF8NamesNoGroup() async throws {
        let node = try ServedNode()
        try node.registry.makeGroup(name: "\u{FFFD}", cacheBytes: 1 << 20) { key, _ in CacheValue("\(key)?") }
        let connection = try node.connect()
        let request = { (group: [UInt8], id: UInt32) in
            Frame(kind: .get, id: id, message: GetRequest(group: group, key: Array("k".utf8)))
        }
        try connection.send([request([0xff], 1), request(Array("\u{FFFD}".utf8), 2)])
        let frames = try await connection.frames(2).sorted { $0.id < $1.id }
        #expect(frames[0].errorCode == .noSuchGroup)
        #expect(frames[1].value == "k?")
        await node.server.shutdown()
    }

    static let violations: [(name: String, bytes: [UInt8], code: ErrorCode)] = [
        ("a malformed payload", Frame(kind: .get, id: 1, payload: [0x0a, 0x7f]).encoded(), .badRequest),
        ("an oversized length", hexBytes("00 01 00 07 01 00 00 00 00 01"), .tooLarge),
        ("a reserved flag", hexBytes("00 00 00 06 05 02 00 00 00 01"), .badRequest),
        ("a reply kind", Frame(kind: .pong, id: 1).encoded(), .badRequest),
    ]

    @Test(arguments: violations)
    func aViolationClosesOnlyItsConnection(name: String, bytes: [UInt8], code: ErrorCode) async throws {
        let node = try ServedNode()
        let good = try node.connect()
        let bad = try node.connect()
        try bad.send(bytes)
        let error = try #require(try await bad.nextFrame(), "\(name): no ERROR before the close")
        #expect(error.errorCode == code, "\(name): got \(String(describing: error.errorCode))")
        #expect(try await bad.closesWithin(.seconds(5)), "\(name): the connection stayed open")
        try good.send([ServedNode.get("k", id: 9)])
        #expect(try await good.nextFrame()?.value == "k!", "\(name): the good connection stopped working")
        await node.server.shutdown()
    }

    @Test func aHalfSentFrameIsClosedAfterThePartialFrameTimeout() async throws {
        let node = try ServedNode(options: TCPServerOptions(partialFrameTimeout: .milliseconds(50)))
        let connection = try node.connect()
        try connection.send(Array(ServedNode.get("k", id: 1).encoded().prefix(8)))
        #expect(try await connection.closesWithin(.seconds(5)))
        await node.server.shutdown()
    }

    @Test func anIdleConnectionIsClosed() async throws {
        let node = try ServedNode(options: TCPServerOptions(idleTimeout: .milliseconds(50)))
        let connection = try node.connect()
        try connection.send([Frame(kind: .ping, id: 1)])
        #expect(try await connection.nextFrame() == Frame(kind: .pong, id: 1))
        #expect(try await connection.closesWithin(.seconds(5)))
        await node.server.shutdown()
    }

    @Test func atItsInFlightLimitAConnectionWaitsForASlot() async throws {
        let node = try ServedNode(options: TCPServerOptions(maxInFlightPerConnection: 2))
        let connection = try node.connect()
        try connection.send([ServedNode.get("slow-1", id: 1), ServedNode.get("slow-2", id: 2), Frame(kind: .ping, id: 3)])
        // The ping waits behind two running loads; it cannot be answered until one ends.
        #expect(await eventually { node.loads.value == 2 })
        await #expect(throws: RawConnection.Failure.self) { try await connection.nextFrame(timeout: .milliseconds(50)) }
        node.gate.open()
        let frames = try await connection.frames(3)
        #expect(Set(frames.map(\.id)) == [1, 2, 3])
        await node.server.shutdown()
    }

    @Test func shutdownFinishesRunningRequestsAndRefusesTheRest() async throws {
        let node = try ServedNode(options: TCPServerOptions(maxInFlightPerConnection: 1))
        let connection = try node.connect()
        try connection.send([ServedNode.get("slow-1", id: 1), Frame(kind: .ping, id: 2)])
        #expect(await eventually { node.loads.value == 1 })
        async let stopped: Void = node.server.shutdown()
        // The ping was read but not started: it is refused at once, while the load runs on.
        let refused = try #require(try await connection.nextFrame())
        #expect(refused.id == 2 && refused.errorCode == .unavailable)
        node.gate.open()
        let finished = try #require(try await connection.nextFrame())
        #expect(finished.id == 1 && finished.value == "slow-1!")
        #expect(try await connection.closesWithin(.seconds(5)))
        await stopped
        #expect(node.server.connectionCount == 0)
    }

    /// Clients that hang up just as the server shuts down: each connection closes from both ends at once, and the
    /// shutdown must still end. (It once hung for good: a connection closed on end of input had its read source
    /// suspended again by the shutdown, so the source's cancel handler, which reports the close, never ran.)
    @Test func clientsHangingUpDuringShutdownDoNotHoldItUp() async throws {
        for round in 0..<40 {
            let node = try ServedNode()
            var connections = try (0..<4).map { _ in try node.connect() }
            for connection in connections { try connection.send([Frame(kind: .ping, id: 1)]) }
            for connection in connections { _ = try await connection.nextFrame() }
            connections.removeAll()  // closes the four sockets
            let stopped = Atomic(false)
            Task {
                await node.server.shutdown()
                stopped.store(true, ordering: .relaxed)
            }
            // Not awaited: a shutdown that never ends must fail the test, not hang it.
            let finished = try await within(.seconds(3)) { stopped.load(ordering: .relaxed) }
            #expect(finished, "round \(round): shutdown still waits for \(node.server.connectionStatus)")
            if !finished { return }
        }
    }
}
