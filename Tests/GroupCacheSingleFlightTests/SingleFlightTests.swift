import GroupCacheSingleFlight
import Synchronization
import TestSupport
import Testing
import GroupCacheLock

@Suite struct SingleFlightTests {
    /// Counts operation runs and commits.
    final class Probe: Sendable {
        let runs = Atomic(0)
        let commits = Lock<[Result<Int, any Error>]>([])
        var commitCount: Int { commits.withLock { $0.count } }
    }

    @Test func concurrentCallersShareOneRun() async throws {
        let flights = SingleFlight<String, Int>()
        let probe = Probe()
        let gate = Gate()
        let callers = 50
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    try await flights.value(
                        for: "k", deadline: nil,
                        operation: { probe.runs.add(1, ordering: .relaxed); await gate.wait(); return 42 },
                        commit: { result in probe.commits.withLock { $0.append(result) } })
                }
            }
            #expect(await eventually { flights.waiterCount(for: "k") == callers })
            gate.open()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(probe.runs.load(ordering: .relaxed) == 1, "got \(probe.runs.load(ordering: .relaxed)) runs; want 1")
        #expect(results.count == callers && results.allSatisfy { $0 == 42 })
        #expect(probe.commitCount == 1)
        #expect(flights.count == 0)
    }

    @Test func anOperationPastItsTimeLimitFailsItsWaitersAndFreesTheKey() async throws {
        let flights = SingleFlight<String, Int>()
        let probe = Probe()
        let release = Gate(), cancelled = Gate(), returned = Gate()
        let commit: @Sendable (Result<Int, any Error>) -> Void = { result in probe.commits.withLock { $0.append(result) } }
        await #expect(throws: OperationTimedOutError(limit: .milliseconds(20))) {
            try await flights.value(
                for: "k", deadline: nil, timeLimit: .milliseconds(20),
                operation: {
                    await withTaskCancellationHandler { await release.wait() } onCancel: { cancelled.open() }
                    returned.open()
                    return 1
                }, commit: commit)
        }
        await cancelled.wait()
        #expect(flights.count == 0, "the key is still held")

        // A new caller starts a new operation while the old one still runs.
        let runs = Atomic(0)
        let value = try await flights.value(
            for: "k", deadline: nil, operation: { runs.add(1, ordering: .relaxed); return 2 }, commit: commit)
        #expect(value == 2 && runs.load(ordering: .relaxed) == 1, "the new caller ran its own operation")

        release.open()
        await returned.wait()
        // Give the late result every chance to be committed; it must not be.
        _ = await eventually(limit: 1_000) { probe.commitCount > 2 }
        let committed = probe.commits.withLock { $0.map { try? $0.get() } }
        #expect(committed == [nil, 2], "got \(committed)")
    }

    @Test func everyWaiterGetsTheError() async throws {
        struct Boom: Error {}
        let flights = SingleFlight<String, Int>()
        let gate = Gate()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    do {
                        _ = try await flights.value(
                            for: "k", deadline: nil, operation: { await gate.wait(); throw Boom() }, commit: { _ in })
                        return false
                    } catch {
                        return error is Boom
                    }
                }
            }
            #expect(await eventually { flights.waiterCount(for: "k") == 10 })
            gate.open()
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes == Array(repeating: true, count: 10))
    }

    @Test func aCancelledCallerLeavesPromptlyAndTheOthersGetTheValue() async throws {
        let flights = SingleFlight<String, Int>()
        let probe = Probe()
        let gate = Gate()
        let operation: @Sendable () async throws -> Int = { probe.runs.add(1, ordering: .relaxed); await gate.wait(); return 7 }
        let commit: @Sendable (Result<Int, any Error>) -> Void = { result in probe.commits.withLock { $0.append(result) } }

        let leader = Task { try await flights.value(for: "k", deadline: nil, operation: operation, commit: commit) }
        let follower = Task { try await flights.value(for: "k", deadline: nil, operation: operation, commit: commit) }
        #expect(await eventually { flights.waiterCount(for: "k") == 2 })

        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(!gate.isOpen, "the cancelled caller returned while the operation was still blocked")

        gate.open()
        #expect(try await follower.value == 7)
        #expect(probe.runs.load(ordering: .relaxed) == 1)
        #expect(probe.commitCount == 1)
    }

    @Test func theOperationFinishesAndCommitsWhenEveryCallerHasGone() async throws {
        let flights = SingleFlight<String, Int>()
        let probe = Probe()
        let gate = Gate()
        let caller = Task {
            try await flights.value(
                for: "k", deadline: nil, operation: { await gate.wait(); return 9 },
                commit: { result in probe.commits.withLock { $0.append(result) } })
        }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        gate.open()
        #expect(await eventually { probe.commitCount == 1 })
        #expect(try probe.commits.withLock { try $0[0].get() } == 9)
    }

    @Test func aCallerPastItsDeadlineLeavesWithoutDisturbingTheOthers() async throws {
        let flights = SingleFlight<String, Int>()
        let gate = Gate()
        let operation: @Sendable () async throws -> Int = { await gate.wait(); return 5 }
        let patient = Task { try await flights.value(for: "k", deadline: nil, operation: operation, commit: { _ in }) }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        await #expect(throws: DeadlineExceededError.self) {
            _ = try await flights.value(
                for: "k", deadline: .now + .milliseconds(20), operation: operation, commit: { _ in })
        }
        gate.open()
        #expect(try await patient.value == 5)
    }

    /// A writer detaches the flight: its waiters get the old value, it commits nothing, and the next caller starts
    /// a new operation.
    @Test func forgetDetachesTheFlight() async throws {
        let flights = SingleFlight<String, Int>()
        let probe = Probe()
        let gate = Gate()
        let old = Task {
            try await flights.value(
                for: "k", deadline: nil, operation: { await gate.wait(); return 1 },
                commit: { result in probe.commits.withLock { $0.append(result) } })
        }
        #expect(await eventually { flights.waiterCount(for: "k") == 1 })
        flights.forget("k")
        let freshRuns = Atomic(0)
        let fresh = try await flights.value(
            for: "k", deadline: nil, operation: { freshRuns.add(1, ordering: .relaxed); return 2 },
            commit: { result in probe.commits.withLock { $0.append(result) } })
        #expect(fresh == 2 && freshRuns.load(ordering: .relaxed) == 1, "a forgotten key starts a new flight")
        gate.open()
        #expect(try await old.value == 1)
        #expect(try probe.commits.withLock { try $0.map { try $0.get() } } == [2], "the detached flight committed")
    }
}
