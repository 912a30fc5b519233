import GroupCacheLock

/// The node-wide budget for bytes buffered in partial frames: a connection reserves a frame's whole size once
/// its header is in, before it reads the body, and gives it back when the frame is complete or the connection
/// closes. A connection that finds no room stops reading and is woken when room is given back, so many peers
/// sending large frames at once wait their turn instead of holding the sum of their frames.
///
/// Concurrency: one lock, a leaf: no callback runs under it.
final class InputBudget: Sendable {
    /// The bytes that may be reserved at once.
    let capacity: Int
    private let state = Lock(State())

    private struct State {
        var reserved = 0
        var waiters: [ObjectIdentifier: @Sendable () -> Void] = [:]
    }

    init(capacity: Int) {
        precondition(capacity > 0, "the input budget must allow some bytes")
        self.capacity = capacity
    }

    /// The bytes reserved now.
    var reserved: Int { state.withLock { $0.reserved } }

    /// Reserves `bytes`, or registers `wake` to be called once room is given back and returns `false`.
    func reserve(_ bytes: Int, for owner: ObjectIdentifier, wake: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { state in
            guard state.reserved + bytes <= capacity else {
                state.waiters[owner] = wake
                return false
            }
            state.reserved += bytes
            state.waiters[owner] = nil
            return true
        }
    }

    /// Gives back `bytes` and forgets `owner` as a waiter; returns the waiters to wake, to be called after the
    /// caller has released its own locks.
    func release(_ bytes: Int, for owner: ObjectIdentifier) -> [@Sendable () -> Void] {
        state.withLock { state in
            state.reserved -= bytes
            state.waiters[owner] = nil
            guard bytes > 0, !state.waiters.isEmpty else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
    }
}
