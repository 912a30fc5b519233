@testable import GroupCacheTCP
import Testing

@Suite struct ClientConnectionStateTests {
    typealias Machine = ClientConnectionState<String>
    static let start = ContinuousClock.now

    static func id(_ registration: Machine.Registration) -> UInt32? {
        if case .registered(let id, _) = registration { return id }
        return nil
    }

    static func armTimer(_ registration: Machine.Registration) -> ContinuousClock.Instant?? {
        if case .registered(_, let armTimer) = registration { return armTimer }
        return nil
    }

    @Test func requestsGetDistinctIdsAndEachWaiterLeavesOnce() {
        var machine = Machine(now: Self.start)
        let a = Self.id(machine.register("a", deadline: Self.start + .seconds(1), now: Self.start))
        let b = Self.id(machine.register("b", deadline: Self.start + .seconds(1), now: Self.start))
        #expect(a == 1)
        #expect(b == 2)
        #expect(machine.inFlight == 2)
        #expect(machine.take(2) == "b")
        #expect(machine.take(2) == nil)
        #expect(machine.inFlight == 1)
    }

    @Test func idsWrapPastZero() {
        var machine = Machine(now: Self.start, firstID: .max)
        let far = Self.start + .seconds(60)
        #expect(Self.id(machine.register("top", deadline: far, now: Self.start)) == .max)
        // The counter wraps to 0, which is the connection's own id: 1 comes next.
        #expect(Self.id(machine.register("one", deadline: far, now: Self.start)) == 1)
    }

    @Test func theTimerIsArmedOnlyForAnEarlierDeadline() {
        var machine = Machine(now: Self.start)
        let first = machine.register("a", deadline: Self.start + .seconds(2), now: Self.start)
        #expect(Self.armTimer(first) == .some(Self.start + .seconds(2)))
        let later = machine.register("b", deadline: Self.start + .seconds(3), now: Self.start)
        #expect(Self.armTimer(later) == .some(nil))
        let earlier = machine.register("c", deadline: Self.start + .seconds(1), now: Self.start)
        #expect(Self.armTimer(earlier) == .some(Self.start + .seconds(1)))
    }

    @Test func expiryTakesTheOverdueAndNamesTheNextDeadline() {
        var machine = Machine(now: Self.start)
        _ = machine.register("soon", deadline: Self.start + .seconds(1), now: Self.start)
        _ = machine.register("later", deadline: Self.start + .seconds(5), now: Self.start)
        _ = machine.register("latest", deadline: Self.start + .seconds(9), now: Self.start)
        let expiry = machine.expire(now: Self.start + .seconds(2))
        #expect(expiry.overdue == ["soon"])
        #expect(expiry.next == Self.start + .seconds(5))
        #expect(machine.inFlight == 2)
        // After a firing the armed time is the next deadline: a later request arms nothing.
        #expect(Self.armTimer(machine.register("d", deadline: Self.start + .seconds(6), now: Self.start)) == .some(nil))
        let rest = machine.expire(now: Self.start + .seconds(10))
        #expect(Set(rest.overdue) == ["later", "latest", "d"])
        #expect(rest.next == nil)
        // Nothing armed now: the next request arms the timer again.
        #expect(Self.armTimer(machine.register("e", deadline: Self.start + .seconds(20), now: Self.start)) == .some(Self.start + .seconds(20)))
    }

    @Test func closingHandsOutEveryWaiterOnceAndRefusesNewRequests() {
        var machine = Machine(now: Self.start)
        _ = machine.register("a", deadline: Self.start + .seconds(1), now: Self.start)
        _ = machine.register("b", deadline: Self.start + .seconds(1), now: Self.start)
        #expect(Set(machine.close(reason: "gone") ?? []) == ["a", "b"])
        #expect(machine.close(reason: "again") == nil)
        #expect(machine.closeReason == "gone")
        #expect(machine.inFlight == 0)
        guard case .closed = machine.register("c", deadline: Self.start + .seconds(1), now: Self.start) else {
            Issue.record("a closed connection registered a request")
            return
        }
    }

    @Test func idleMeansNothingInFlightAndNothingReceivedForTheTimeout() {
        var machine = Machine(now: Self.start)
        #expect(!machine.isIdle(for: .seconds(60), now: Self.start + .seconds(59)))
        #expect(machine.isIdle(for: .seconds(60), now: Self.start + .seconds(61)))
        let id = Self.id(machine.register("a", deadline: Self.start + .seconds(100), now: Self.start + .seconds(61)))!
        #expect(!machine.isIdle(for: .seconds(60), now: Self.start + .seconds(200)))
        _ = machine.take(id)
        machine.received(now: Self.start + .seconds(150))
        #expect(!machine.isIdle(for: .seconds(60), now: Self.start + .seconds(200)))
        #expect(machine.isIdle(for: .seconds(60), now: Self.start + .seconds(211)))
        _ = machine.close(reason: "done")
        #expect(!machine.isIdle(for: .seconds(60), now: Self.start + .seconds(300)))
    }

    // MARK: Liveness

    static let liveness = Machine.Liveness(quietLimit: .milliseconds(500), pingTimeout: .milliseconds(500))

    static func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func aSilentPeerIsPingedThenFoundHung() {
        var machine = Machine(now: Self.start, liveness: Self.liveness)
        let first = machine.register("slow", deadline: Self.at(5_000), now: Self.at(0))
        #expect(Self.armTimer(first) == .some(Self.at(500)), "armed for the liveness check, not the far deadline")
        let early = machine.expire(now: Self.at(499))
        #expect(early.ping == nil && !early.hung && early.next == Self.at(500))
        let quiet = machine.expire(now: Self.at(500))
        let ping = try! #require(quiet.ping)
        #expect(!quiet.hung && quiet.next == Self.at(1_000))
        // The PING's id is never handed to a request while it is in flight.
        #expect(Self.id(machine.register("other", deadline: Self.at(5_000), now: Self.at(600))) != ping)
        #expect(!machine.expire(now: Self.at(999)).hung)
        let silent = machine.expire(now: Self.at(1_000))
        #expect(silent.hung && silent.overdue.isEmpty)
    }

    @Test func anyFrameAnswersThePingSoASlowLoadKeepsWaiting() {
        var machine = Machine(now: Self.start, liveness: Self.liveness)
        _ = machine.register("slow", deadline: Self.at(5_000), now: Self.at(0))
        #expect(machine.expire(now: Self.at(500)).ping != nil)
        machine.received(now: Self.at(520))  // the PONG
        let answered = machine.expire(now: Self.at(1_000))
        #expect(!answered.hung && answered.ping == nil)
        #expect(answered.next == Self.at(1_020), "the next check is a quiet limit after the PONG")
        let again = machine.expire(now: Self.at(1_020))
        #expect(again.ping != nil && !again.hung, "a peer quiet again is pinged again")
        #expect(machine.inFlight == 1, "the slow request still waits")
    }

    @Test func aBusyPeerIsNeverPinged() {
        var machine = Machine(now: Self.start, liveness: Self.liveness)
        for step in 0..<20 {
            let now = Self.at(step * 100)
            _ = machine.register("r\(step)", deadline: now + .seconds(5), now: now)
            machine.received(now: now)
            let expiry = machine.expire(now: now)
            #expect(expiry.ping == nil && !expiry.hung)
        }
    }

    @Test func nothingInFlightNeedsNoPing() {
        var machine = Machine(now: Self.start, liveness: Self.liveness)
        let id = Self.id(machine.register("done", deadline: Self.at(5_000), now: Self.at(0)))!
        _ = machine.take(id)
        let expiry = machine.expire(now: Self.at(10_000))
        #expect(expiry.ping == nil && !expiry.hung && expiry.next == nil)
    }
}
