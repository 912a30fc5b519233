public import GroupCacheLock

/// The error a waiter gets when its deadline passes before the operation it waits for has finished.
public struct DeadlineExceededError: Error, Hashable, Sendable {
    /// Creates the error.
    public init() {}
}

/// The error every waiter gets when an operation runs past its time limit.
public struct OperationTimedOutError: Error, Hashable, Sendable {
    /// The limit that passed.
    public let limit: Duration

    /// Creates the error for an operation that ran past `limit`.
    public init(limit: Duration) {
        self.limit = limit
    }
}

/// Runs at most one operation per key at a time; callers that ask for a key whose operation is running wait for
/// its result instead of starting another.
///
/// The operation runs in a task of its own, not in any caller's: a caller that is cancelled, or whose deadline
/// passes, stops waiting at once with `CancellationError` or ``DeadlineExceededError`` while the others keep
/// waiting, and the operation goes on to the end even when every caller has gone.
///
/// An operation may have a time limit. When it passes, the operation's task is cancelled, every waiter still
/// there gets ``OperationTimedOutError``, the key is released (the next caller starts a new operation), and the
/// operation's late result is dropped: `commit` does not run for it. A hanging operation never pins a key for
/// longer than its limit.
///
/// When the operation finishes, `commit` runs with its result, under this object's lock, *unless the flight was
/// detached* by ``forget(_:)`` in the meantime. That is how a cache stays fresh: a writer calls `forget` and only
/// then deletes the key, so a load that started before the delete can never store its old value after it, in
/// either order of events:
///   1. load finishes, commit stores, then forget (no-op), then delete: the value is deleted;
///   2. forget, then load finishes: the flight is detached, commit does not run, nothing is stored.
///
/// Concurrency: every method may be called from any task.
///
/// Its methods and types are inlinable so that the engine gets a copy specialised to its key and value: used
/// generically across the module boundary, every flight looked up generic metadata at run time (perf:
/// `_swift_getGenericMetadata` under `finish`), and 16 callers through `Group.get` did 72k gets/s instead of 80-84k.
public final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline let flights = Lock<[Key: Flight]>([:])
    /// Waiters' deadlines and operations' time limits.
    @usableFromInline let timers = DeadlineTimer()

    /// Creates an empty group of flights.
    public init() {}

    /// Returns the result of `operation` for `key`, running it only if no operation for `key` is in flight.
    ///
    /// - Parameters:
    ///   - key: What identifies the operation.
    ///   - deadline: When this caller stops waiting with ``DeadlineExceededError``; `nil` waits for as long as
    ///     the operation takes.
    ///   - timeLimit: If this caller starts the operation, how long it may run; `nil` for no limit.
    ///   - operation: The work, run in a task of its own if this caller is the leader. Its task is cancelled
    ///     when `timeLimit` passes.
    ///   - commit: Runs once with the operation's result if the flight is still attached when it finishes; it
    ///     runs under a lock, so it must be short and must not call back into this object.
    /// - Returns: The value.
    /// - Throws: The operation's error, `CancellationError` if this caller's task is cancelled,
    ///   ``DeadlineExceededError``, or ``OperationTimedOutError``.
    @inlinable
    public func value(
        for key: Key,
        deadline: ContinuousClock.Instant?,
        timeLimit: Duration? = nil,
        operation: @escaping @Sendable () async throws -> Value,
        commit: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) async throws -> Value {
        let (flight, isLeader) = join(key, commit: commit)
        if isLeader { launch(flight, for: key, timeLimit: timeLimit, immediately: true, operation: operation) }
        return try await flight.wait(deadline: deadline, timers: timers)
    }

    /// Like ``value(for:deadline:timeLimit:operation:commit:)``, but a leader first runs `attempt` in its own
    /// task, which saves a task, a continuation and a thread hop per flight: for work that is cheap to try twice,
    /// such as a fetch from a peer (whose owner loads once however often it is asked).
    ///
    /// `attempt` gets the time it must finish by: the leader's deadline, capped by `timeLimit`. When it returns,
    /// the flight ends with its value. When it throws:
    /// - if the leader has left (cancelled, or its deadline passed) while followers wait, `operation(nil)` runs for
    ///   them in a task of its own, as in ``value(for:deadline:timeLimit:operation:commit:)``, and the leader gets
    ///   `CancellationError` or ``DeadlineExceededError``;
    /// - if `handsOver` says the error is one `operation` may yet turn into a value (a peer that failed, when a
    ///   local load can serve), `operation(error)` runs in a task of its own, so that it need not repeat what
    ///   failed, and the leader waits for it like a follower;
    /// - otherwise the flight ends with the error (``OperationTimedOutError`` if `timeLimit` passed).
    @inlinable
    public func value(
        for key: Key,
        deadline: ContinuousClock.Instant?,
        timeLimit: Duration? = nil,
        attempt: @Sendable (_ finishBy: ContinuousClock.Instant) async throws -> Value,
        handsOver: @Sendable (any Error) -> Bool,
        operation: @escaping @Sendable (_ failedAttempt: (any Error)?) async throws -> Value,
        commit: @escaping @Sendable (Result<Value, any Error>) -> Void
    ) async throws -> Value {
        let (flight, isLeader) = join(key, commit: commit)
        guard isLeader else { return try await flight.wait(deadline: deadline, timers: timers) }

        let limit = timeLimit.map { ContinuousClock.now + $0 }
        let finishBy = [deadline, limit].compactMap { $0 }.min() ?? .now + .seconds(365 * 86_400)
        let error: any Error
        do {
            let value = try await attempt(finishBy)
            finish(flight, for: key, with: .success(value))
            return value
        } catch let thrown {
            error = thrown
        }
        let now = ContinuousClock.now
        let limitPassed = limit.map { now >= $0 } ?? false
        let cancelled = Task.isCancelled
        if cancelled || (!limitPassed && deadline.map { now >= $0 } ?? false) {
            // The leader has left. Followers joined under the flights lock, so none can join unseen between
            // this check and the flight's end.
            let followers = flights.withLock { flights -> Bool in
                guard flights[key] === flight else { return false }
                if flight.hasFollowers { return true }
                flights.removeValue(forKey: key)
                return false
            }
            let leaderError: any Error = cancelled ? CancellationError() : DeadlineExceededError()
            if followers {
                launch(flight, for: key, timeLimit: timeLimit, immediately: false) { try await operation(nil) }
            } else {
                flight.finish(with: .failure(leaderError))
            }
            throw leaderError
        }
        if limitPassed {
            finish(flight, for: key, with: .failure(OperationTimedOutError(limit: timeLimit ?? .zero)))
        } else if handsOver(error) {
            launch(flight, for: key, timeLimit: timeLimit, immediately: false) { try await operation(error) }
        } else {
            finish(flight, for: key, with: .failure(error))
        }
        return try await flight.wait(deadline: deadline, timers: timers)
    }

    /// Joins the flight for `key`, or starts one with `commit` and makes the caller its leader. Followers are
    /// counted under the flights lock, so a leader that leaves early sees every one that joined.
    @inlinable
    func join(_ key: Key, commit: @escaping @Sendable (Result<Value, any Error>) -> Void) -> (Flight, isLeader: Bool) {
        flights.withLock { flights -> (Flight, isLeader: Bool) in
            if let running = flights[key] {
                running.followerJoined()
                return (running, false)
            }
            let flight = Flight(commit: commit)
            flights[key] = flight
            return (flight, true)
        }
    }

    /// Runs `operation` for `flight` in a task of its own, cancelled when `timeLimit` passes. `immediately` starts
    /// that task on this thread up to its first suspension (a cache check, then the write of a peer request, say)
    /// instead of waking another thread for it: one hop fewer.
    @inlinable
    func launch(
        _ flight: Flight, for key: Key, timeLimit: Duration?, immediately: Bool,
        operation: @escaping @Sendable () async throws -> Value
    ) {
        let run: @Sendable () async -> Void = {
            let result: Result<Value, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            self.finish(flight, for: key, with: result)
        }
        let work = immediately ? Task.immediate(operation: run) : Task(operation: run)
        if let timeLimit {
            // Cancelled by `finish` when the operation ends first, so no timer outlives its flight.
            let token = timers.schedule(at: .now + timeLimit) {
                work.cancel()
                self.finish(flight, for: key, with: .failure(OperationTimedOutError(limit: timeLimit)))
            }
            flight.setTimer(token, on: timers)
        }
    }

    /// Detaches the flight for `key`, if one is running: its waiters still get its result, but its `commit`
    /// does not run, and the next caller for `key` starts a new operation.
    @inlinable
    public func forget(_ key: Key) {
        flights.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// The number of flights in progress and attached.
    public var count: Int { flights.withLock { $0.count } }

    /// The number of callers waiting for the attached flight of `key`: a diagnostic, and the seam tests use to
    /// know that every caller has joined before they let an operation finish.
    public func waiterCount(for key: Key) -> Int {
        flights.withLock { $0[key] }?.waiterCount ?? 0
    }

    /// Ends `flight` with `result`, unless it has ended already (the operation and its timer race to end it).
    @inlinable
    func finish(_ flight: Flight, for key: Key, with result: Result<Value, any Error>) {
        flights.withLock { flights in
            guard flights[key] === flight else { return }
            flights.removeValue(forKey: key)
            flight.commit(result)
        }
        flight.finish(with: result)
    }
}

extension SingleFlight {
    /// One running operation and the callers waiting for it.
    @usableFromInline
    final class Flight: Sendable {
        @usableFromInline typealias Waiter = CheckedContinuation<Value, any Error>

        @usableFromInline
        struct State {
            @usableFromInline var result: Result<Value, any Error>?
            /// What ends the flight at its time limit, if it has one.
            @usableFromInline var timer: (token: DeadlineTimer.Token, timers: DeadlineTimer)?
            @usableFromInline var waiters: [Int: Waiter] = [:]
            /// Waiters that left before they could register: cancelled or past their deadline.
            @usableFromInline var departed: [Int: any Error] = [:]
            @usableFromInline var nextID = 0
            @usableFromInline var hasFollowers = false

            @inlinable init() {}
        }

        @usableFromInline let commit: @Sendable (Result<Value, any Error>) -> Void
        @usableFromInline let state = Lock(State())

        @inlinable
        init(commit: @escaping @Sendable (Result<Value, any Error>) -> Void) {
            self.commit = commit
        }

        @inlinable
        func wait(deadline: ContinuousClock.Instant?, timers: DeadlineTimer) async throws -> Value {
            let id = state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
            let timer = deadline.map { deadline in
                timers.schedule(at: deadline) { [weak self] in self?.depart(id, with: DeadlineExceededError()) }
            }
            defer { if let timer { timers.cancel(timer) } }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (waiter: Waiter) in
                    let immediate = state.withLock { state -> Result<Value, any Error>? in
                        if let result = state.result { return result }
                        if let error = state.departed.removeValue(forKey: id) { return .failure(error) }
                        state.waiters[id] = waiter
                        return nil
                    }
                    if let immediate { waiter.resume(with: immediate) }
                }
            } onCancel: {
                depart(id, with: CancellationError())
            }
        }

        @inlinable
        var waiterCount: Int { state.withLock { $0.waiters.count } }

        /// Counts a follower; called under the flights lock, when it picks this flight up.
        @inlinable
        func followerJoined() { state.withLock { $0.hasFollowers = true } }

        /// Whether any follower has picked this flight up.
        @inlinable
        var hasFollowers: Bool { state.withLock { $0.hasFollowers } }

        /// Resumes one waiter with `error`, or records that it left if it has not registered yet.
        @inlinable
        func depart(_ id: Int, with error: any Error) {
            let waiter = state.withLock { state -> Waiter? in
                guard state.result == nil else { return nil }
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.departed[id] = error
                return nil
            }
            waiter?.resume(throwing: error)
        }

        /// Keeps what will end the flight at its time limit; cancels it at once if the flight has ended.
        @inlinable
        func setTimer(_ token: DeadlineTimer.Token, on timers: DeadlineTimer) {
            let finished = state.withLock { state in
                if state.result == nil { state.timer = (token, timers) }
                return state.result != nil
            }
            if finished { timers.cancel(token) }
        }

        /// Gives `result` to every waiter; does nothing if the flight has a result already.
        @inlinable
        func finish(with result: Result<Value, any Error>) {
            let ended = state.withLock { state -> (waiters: [Int: Waiter], timer: (token: DeadlineTimer.Token, timers: DeadlineTimer)?)? in
                guard state.result == nil else { return nil }
                state.result = result
                state.departed = [:]
                defer { (state.waiters, state.timer) = ([:], nil) }
                return (state.waiters, state.timer)
            }
            guard let ended else { return }
            if let timer = ended.timer { timer.timers.cancel(timer.token) }
            for waiter in ended.waiters.values { waiter.resume(with: result) }
        }
    }
}
