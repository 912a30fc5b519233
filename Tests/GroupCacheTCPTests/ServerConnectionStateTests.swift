@testable import GroupCacheTCP
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
