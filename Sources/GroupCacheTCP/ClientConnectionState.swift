/// The decisions of one client connection, without a socket: the id of each request, who waits for it and
/// until when, when the deadline timer must fire, when the connection is idle, and whom a close fails.
/// ``ClientConnection`` feeds it events under its lock and performs what it returns after releasing the lock,
/// as ``ServerConnectionState`` does for the server; both are tested without sockets.
///
/// Each waiter leaves the machine exactly once: by ``take(_:)`` (its reply came, or its caller left), by
/// ``expire(now:)``, or by ``close(reason:)``; whoever removes it resumes it.
///
/// Concurrency: a value type; the connection's lock guards it.
struct ClientConnectionState<Waiter> {
    /// What became of a new request.
    enum Registration {
        /// It has this id. When `armTimer` is set, the deadline timer must fire by then (it was set later or
        /// not at all).
        case registered(id: UInt32, armTimer: ContinuousClock.Instant?)
        /// The connection is closed: the request was not sent and may go out on another connection.
        case closed
    }

    private var pending: [UInt32: (waiter: Waiter, deadline: ContinuousClock.Instant)] = [:]
    private var nextID: UInt32 = 1
    private var lastActivity: ContinuousClock.Instant
    /// When the deadline timer is set to fire; `nil` while it is not.
    private var timerDeadline: ContinuousClock.Instant?
    /// Why the connection closed; `nil` while it is open.
    private(set) var closeReason: String?

    /// A machine whose first request gets `firstID` (other than 1 only to test the wrap).
    init(now: ContinuousClock.Instant, firstID: UInt32 = 1) {
        lastActivity = now
        nextID = firstID
    }

    /// Requests waiting for their replies.
    var inFlight: Int { pending.count }

    /// Gives `waiter`'s request an id no other request in flight has (never 0, which the protocol keeps for the
    /// connection itself).
    mutating func register(_ waiter: Waiter, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Registration {
        guard closeReason == nil else { return .closed }
        var id = nextID
        while id == 0 || pending[id] != nil { id &+= 1 }
        nextID = id &+ 1
        pending[id] = (waiter, deadline)
        lastActivity = now
        if let armed = timerDeadline, armed <= deadline { return .registered(id: id, armTimer: nil) }
        timerDeadline = deadline
        return .registered(id: id, armTimer: deadline)
    }

    /// Removes and returns the waiter of request `id`, if it still waits.
    mutating func take(_ id: UInt32) -> Waiter? {
        pending.removeValue(forKey: id)?.waiter
    }

    /// Records that bytes came from the peer.
    mutating func received(now: ContinuousClock.Instant) {
        lastActivity = now
    }

    /// The timer fired: removes and returns the waiters whose deadline has passed, and when the timer must fire
    /// next (`nil` when nothing waits).
    mutating func expire(now: ContinuousClock.Instant) -> (overdue: [Waiter], next: ContinuousClock.Instant?) {
        var overdue: [Waiter] = []
        var next: ContinuousClock.Instant?
        for (id, entry) in pending {
            if entry.deadline <= now {
                overdue.append(entry.waiter)
                pending[id] = nil
            } else if next.map({ entry.deadline < $0 }) ?? true {
                next = entry.deadline
            }
        }
        timerDeadline = next
        return (overdue, next)
    }

    /// Closes the connection for `reason` and returns every waiter, to be failed; `nil` if it was closed
    /// already.
    mutating func close(reason: String) -> [Waiter]? {
        guard closeReason == nil else { return nil }
        closeReason = reason
        timerDeadline = nil
        defer { pending = [:] }
        return pending.values.map(\.waiter)
    }

    /// Whether nothing is in flight and nothing has crossed the connection for longer than `idleTimeout`.
    func isIdle(for idleTimeout: Duration, now: ContinuousClock.Instant) -> Bool {
        closeReason == nil && pending.isEmpty && now - lastActivity > idleTimeout
    }
}
