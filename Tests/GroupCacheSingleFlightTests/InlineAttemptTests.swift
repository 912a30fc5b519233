import GroupCacheSingleFlight
import Synchronization
import TestSupport
import Testing
import GroupCacheLock

/// The leader's attempt in its own task (`value(for:deadline:timeLimit:attempt:handsOver:operation:commit:)`):
/// followers share it, and they still get a value when the leader leaves early.
@Suite struct InlineAttemptTests {
    struct PeerDown: Error {}
    struct NotFound: Error, Equatable {}

    /// Counts attempts and operations.
    final class Probe: Sendable {
        let attempts = Atomic(0)
        let operations = Atomic(0)
        let commits = Atomic(0)
        /// What the last operation was told about the attempt before it.
        let failedAttempt = Lock<(any Error)?>(nil)
    }

    /// Waits for `gate`; throws `CancellationError` if the task is cancelled first.
    static func waitOrCancel(_ gate: Gate) async throws {
        await withTaskCancellationHandler { await gate.wait() } onCancel: { gate.open() }
        try Task.checkCancellation()
    }

    static func value(
        _ flights: SingleFlight<String, Int>, _ probe: Probe, deadline: ContinuousClock.Instant? = nil,
        attempt: @escaping @Sendable () async throws -> Int, operation: @escaping @Sendable () async throws -> Int = { 7 }
    ) async throws -> Int {
        try await flights.value(
            for: "k", deadline: deadline, timeLimit: .seconds(30),
            attempt: { _ in
                probe.attempts.add(1, ordering: .relaxed)
                return try await attempt()
            },
            handsOver: { $0 is PeerDown },
            operation: { failedAttempt in
                probe.operations.add(1, ordering: .relaxed)
                probe.failedAttempt.withLock { $0 = failedAttempt }
                return try await operation()
            },
            commit: { _ in probe.commits.add(1, ordering: .relaxed) }
        )
    }

    @Test func followersShareTheLeadersAttempt() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leader = Task { try await Self.value(flights, probe) { try await Self.waitOrCancel(gate); return 42 } }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        let follower = Task { try await Self.value(flights, probe) { 0 } }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        gate.open()
        #expect(try await leader.value == 42)
        #expect(try await follower.value == 42)
        #expect(probe.attempts.load(ordering: .relaxed) == 1)
        #expect(probe.operations.load(ordering: .relaxed) == 0)
        #expect(probe.commits.load(ordering: .relaxed) == 1)
        #expect(flights.count == 0)
    }

    @Test func aCancelledLeaderHandsTheFlightToItsFollowers() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leader = Task { try await Self.value(flights, probe) { try await Self.waitOrCancel(gate); return 1 } }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        let follower = Task { try await Self.value(flights, probe) { 0 } }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(try await follower.value == 7)
        #expect(probe.operations.load(ordering: .relaxed) == 1)
        #expect(probe.commits.load(ordering: .relaxed) == 1)
        #expect(flights.count == 0)
        #expect(probe.failedAttempt.withLock { $0 } == nil, "an abandoned attempt is not a failed one")
    }

    @Test func aLeaderPastItsDeadlineHandsTheFlightToItsFollowers() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leaderDeadline = ContinuousClock.now + .milliseconds(50)
        let leader = Task {
            try await Self.value(flights, probe, deadline: leaderDeadline) {
                // An attempt that gives up at the leader's deadline, as a fetch given that deadline does.
                try await Self.waitOrCancel(gate)
                throw NotFound()
            }
        }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        let follower = Task { try await Self.value(flights, probe, deadline: .now + .seconds(10)) { 0 } }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        try await Task.sleep(until: leaderDeadline, clock: .continuous)
        gate.open()
        await #expect(throws: DeadlineExceededError()) { _ = try await leader.value }
        #expect(try await follower.value == 7)
        #expect(probe.operations.load(ordering: .relaxed) == 1)
    }

    @Test func aLoneCancelledLeaderEndsTheFlight() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leader = Task { try await Self.value(flights, probe) { try await Self.waitOrCancel(gate); return 1 } }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(probe.operations.load(ordering: .relaxed) == 0)
        #expect(flights.count == 0)
        #expect(try await Self.value(flights, probe) { 3 } == 3)
    }

    @Test func anErrorThatHandsOverRunsTheOperationForEveryone() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leader = Task { try await Self.value(flights, probe) { try await Self.waitOrCancel(gate); throw PeerDown() } }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        let follower = Task { try await Self.value(flights, probe) { 0 } }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        gate.open()
        #expect(try await leader.value == 7)
        #expect(try await follower.value == 7)
        #expect(probe.operations.load(ordering: .relaxed) == 1)
        #expect(probe.commits.load(ordering: .relaxed) == 1)
        #expect(probe.failedAttempt.withLock { $0 } is PeerDown, "the operation was not told what failed")
    }

    @Test func anErrorThatDoesNotHandOverReachesEveryone() async throws {
        let flights = SingleFlight<String, Int>(), probe = Probe(), gate = Gate()
        let leader = Task { try await Self.value(flights, probe) { try await Self.waitOrCancel(gate); throw NotFound() } }
        #expect(await eventually { probe.attempts.load(ordering: .relaxed) == 1 })
        let follower = Task { try await Self.value(flights, probe) { 0 } }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        gate.open()
        await #expect(throws: NotFound()) { _ = try await leader.value }
        await #expect(throws: NotFound()) { _ = try await follower.value }
        #expect(probe.operations.load(ordering: .relaxed) == 0)
    }
}
