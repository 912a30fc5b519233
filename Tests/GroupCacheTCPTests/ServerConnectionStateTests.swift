@testable import GroupCacheTCP
import GroupCacheAuth
import GroupCacheWire
import TestSupport
import Testing

@Suite struct ServerConnectionStateTests {
    static func bytes(_ frames: [Frame]) -> [UInt8] {
        var buffer: [UInt8] = []
        for frame in frames { frame.encode(to: &buffer) }
        return buffer
    }

    static func ping(_ id: UInt32) -> Frame { Frame(kind: .ping, id: id) }

    static func receive(_ state: inout ServerConnectionState, _ frames: [Frame]) {
        bytes(frames).withUnsafeBytes { state.receive($0) }
    }

    @Test func framesAreHandedOutInOrder() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8)
        Self.receive(&state, [Self.ping(1), Self.ping(2)])
        #expect(state.nextRequest() == .start(Self.ping(1)))
        #expect(state.nextRequest() == .start(Self.ping(2)))
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.inFlight == 2)
    }

    @Test func atCapacityItStopsReadingAndTakesATurnAsRequestsFinish() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 2)
        Self.receive(&state, (1...4).map(Self.ping))
        #expect(!state.wantsToRead(), "complete frames are buffered")
        #expect(state.nextRequest() == .start(Self.ping(1)))
        #expect(state.nextRequest() == .start(Self.ping(2)))
        #expect(state.nextRequest() == .blocked)
        #expect(!state.wantsToRead() && !state.needsTurn())

        #expect(state.requestFinished() == .takeTurn)
        #expect(state.needsTurn())
        #expect(state.nextRequest() == .start(Self.ping(3)))
        #expect(state.nextRequest() == .blocked)
        #expect(state.requestFinished() == .takeTurn)
        #expect(state.nextRequest() == .start(Self.ping(4)))
        #expect(state.nextRequest() == .blocked, "at capacity again, even with nothing buffered")
        #expect(!state.wantsToRead())
        #expect(state.requestFinished() == .takeTurn)
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.wantsToRead() && !state.needsTurn())
        #expect(state.requestFinished() == .none, "below capacity: nothing was waiting")
    }

    @Test func unwrittenRepliesAtTheCapStopRequestsUntilTheyDrain() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, maxOutputBytes: 1000)
        Self.receive(&state, (1...3).map(Self.ping))
        #expect(state.nextRequest() == .start(Self.ping(1)))
        #expect(state.nextRequest(unwrittenBytes: 1000) == .blocked)
        #expect(!state.wantsToRead(unwrittenBytes: 1000) && !state.needsTurn(unwrittenBytes: 1000))
        #expect(state.needsTurn(unwrittenBytes: 999))
        #expect(state.nextRequest(unwrittenBytes: 999) == .start(Self.ping(2)))
    }

    @Test func theInputBudgetNeedsAFramesWholeSizeOnceItsHeaderIsIn() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8)
        let frame = Frame(kind: .set, id: 3, payload: [UInt8](repeating: 7, count: 5000))
        let bytes = Self.bytes([frame])
        bytes[..<9].withUnsafeBytes { state.receive($0) }
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.partialFrameBytes == 0, "a header not yet whole is not counted")
        bytes[9..<100].withUnsafeBytes { state.receive($0) }
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.partialFrameBytes == bytes.count)
        state.awaitingInputBudget = true
        #expect(!state.wantsToRead())
        state.awaitingInputBudget = false
        bytes[100...].withUnsafeBytes { state.receive($0) }
        #expect(state.partialFrameBytes == 0)
        #expect(state.nextRequest() == .start(frame))
    }

    @Test func aPartialFrameWaitsForTheRest() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8)
        let frame = Frame(kind: .get, id: 9, payload: GetRequest(group: [0x67], key: [0x6b]).encoded())
        let bytes = Self.bytes([frame])
        bytes[..<7].withUnsafeBytes { state.receive($0) }
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.hasPartialFrame)
        bytes[7...].withUnsafeBytes { state.receive($0) }
        #expect(state.nextRequest() == .start(frame))
        #expect(!state.hasPartialFrame)
    }

    static let violations: [(name: String, bytes: [UInt8], code: ErrorCode, id: UInt32)] = [
        ("a reply sent to a server", bytes([Frame(kind: .pong, id: 5)]), .badRequest, 5),
        ("a reserved flag", hexBytes("00 00 00 06 05 02 00 00 00 01"), .badRequest, 0),
        ("a GET over 64 KiB", hexBytes("00 01 00 07 01 00 00 00 00 01"), .tooLarge, 0),
        ("id 0 on a request", hexBytes("00 00 00 06 05 00 00 00 00 00"), .badRequest, 0),
    ]

    @Test(arguments: violations)
    func aProtocolViolationFailsTheConnection(name: String, bytes: [UInt8], code: ErrorCode, id: UInt32) {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8)
        bytes.withUnsafeBytes { state.receive($0) }
        guard case .fail(let gotCode, _, let gotID) = state.nextRequest() else {
            Issue.record("\(name): the connection was not failed")
            return
        }
        #expect(gotCode == code && gotID == id, "\(name): got \(gotCode) for id \(gotID)")
        #expect(state.phase == .closed)
        #expect(state.nextRequest() == .awaitBytes)
    }

    @Test func shutdownAnswersUnstartedRequestsAndClosesWhenTheLastFinishes() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 1)
        Self.receive(&state, (1...3).map(Self.ping))
        #expect(state.nextRequest() == .start(Self.ping(1)))
        #expect(state.nextRequest() == .blocked)
        let (unstarted, closeNow) = state.beginShutdown()
        #expect(unstarted == [2, 3] && !closeNow)
        #expect(state.phase == .draining)
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.requestFinished() == .close)
        #expect(state.phase == .closed)
    }

    @Test func shutdownWithNothingInFlightClosesAtOnce() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 4)
        let (unstarted, closeNow) = state.beginShutdown()
        #expect(unstarted.isEmpty && closeNow)
    }
}

/// The handshake as the server's machine runs it, without sockets.
@Suite struct ServerHandshakeStateTests {
    static let secrets = try! ClusterSecrets([Array("a cluster secret of at least 32 bytes".utf8)])

    static func receive(_ state: inout ServerConnectionState, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { state.receive($0) }
    }

    @Test func requestsStartOnlyAfterTheProof() throws {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, secrets: Self.secrets)
        #expect(!state.isAuthenticated && state.readAllowance == Handshake.maxBytesBeforeAuthentication)
        let client = Handshake.Client(secrets: Self.secrets)
        Self.receive(&state, Frame(kind: .hello, id: 1, message: client.hello).encoded())
        guard case .answerHandshake(let reply) = state.nextRequest() else {
            Issue.record("no answer to HELLO")
            return
        }
        #expect(reply.kind == .helloReply && reply.id == 1)
        let taken = state.takeSealer()
        var serverSealer = try #require(taken)
        let again = state.takeSealer()
        #expect(again == nil, "the sealer is handed over once")
        #expect(state.nextRequest() == .awaitBytes)

        var (proof, sealer, _) = try client.finish(try Hello.decode(from: reply.payload))
        // The proof and a tagged PING in one read, as a client pipelines them.
        Self.receive(&state, Frame(kind: .hello, id: 2, message: proof).encoded() + sealer.seal(Frame(kind: .ping, id: 3).encoded()))
        #expect(state.nextRequest() == .start(Frame(kind: .ping, id: 3)))
        #expect(state.isAuthenticated && state.readAllowance == .max)
        _ = serverSealer.seal(Frame(kind: .pong, id: 3).encoded())
    }

    @Test(arguments: [FrameKind.ping, .get, .set, .stats, .remove, .getReply])
    func anythingButHelloFirstIsRefused(kind: FrameKind) {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, secrets: Self.secrets)
        // The header alone is enough: the body is never waited for.
        Self.receive(&state, Array(Frame(kind: kind, id: 1, payload: [UInt8](repeating: 0, count: 100)).encoded().prefix(10)))
        guard case .fail(.unauthenticated, _, 0) = state.nextRequest() else {
            Issue.record("\(kind) before the handshake was not refused")
            return
        }
        #expect(state.phase == .closed)
    }

    @Test func aStrangerIsReadForAtMost256Bytes() {
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, secrets: Self.secrets)
        // A HELLO header that claims 60 KiB: the connection may read only what is left of 256 bytes.
        Self.receive(&state, Array(Frame(kind: .hello, id: 1, payload: [UInt8](repeating: 0, count: 60_000)).encoded().prefix(200)))
        #expect(state.nextRequest() == .awaitBytes)
        #expect(state.readAllowance == 56 && state.wantsToRead())
        Self.receive(&state, [UInt8](repeating: 0, count: 56))
        #expect(state.readAllowance == 0 && !state.wantsToRead() && state.needsTurn())
        guard case .fail(.unauthenticated, let message, 0) = state.nextRequest() else {
            Issue.record("the stranger was not refused")
            return
        }
        #expect(message.contains("256 bytes"), "\(message)")
    }

    @Test func aWrongSecretOrProofIsRefused() throws {
        let other = try ClusterSecrets([Array("some other secret, also 32 bytes or more".utf8)])
        var state = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, secrets: Self.secrets)
        Self.receive(&state, Frame(kind: .hello, id: 1, message: Handshake.Client(secrets: other).hello).encoded())
        guard case .fail(.unauthenticated, let message, 0) = state.nextRequest() else {
            Issue.record("a wrong secret was not refused")
            return
        }
        #expect(message.contains("wrong secret"))

        var second = ServerConnectionState(limits: FrameLimits(), maxInFlight: 8, secrets: Self.secrets)
        Self.receive(&second, Frame(kind: .hello, id: 1, message: Handshake.Client(secrets: Self.secrets).hello).encoded())
        guard case .answerHandshake = second.nextRequest() else {
            Issue.record("no answer to HELLO")
            return
        }
        Self.receive(&second, Frame(kind: .hello, id: 2, message: Hello(proof: [UInt8](repeating: 7, count: 32))).encoded())
        guard case .fail(.unauthenticated, _, 0) = second.nextRequest() else {
            Issue.record("a wrong proof was not refused")
            return
        }
    }
}
