/// The decisions of one client connection, without a socket: the id of each request, who waits for it and
/// until when, when the deadline timer must fire, whether the peer still answers, when the connection is idle,
/// and whom a close fails.
/// ``ClientConnection`` feeds it events under its lock and performs what it returns after releasing the lock,
/// as ``ServerConnectionState`` does for the server; both are tested without sockets.
///
/// Each waiter leaves the machine exactly once: by ``take(_:)`` (its reply came, or its caller left), by
/// ``expire(now:)``, or by ``close(reason:)``; whoever removes it resumes it.
///
/// Liveness, the rule that tells a hung peer from a slow load: a connection with requests in flight that has
/// heard nothing from the peer for ``Liveness/quietLimit`` sends a PING; any frame from the peer answers it. A
/// peer silent for ``Liveness/pingTimeout`` after that is hung, and the connection is closed. A healthy owner
/// whose loader takes seconds answers the PING at once, so its callers keep waiting for its value.
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

    /// When the connection asks the peer whether it is alive.
    struct Liveness {
        /// How long the peer may be silent while requests wait before the connection sends a PING.
        var quietLimit: Duration
        /// How long a PING may go unanswered before the peer counts as hung.
        var pingTimeout: Duration
    }

    /// What the deadline timer found.
    struct Expiry {
        /// The waiters whose deadline passed, removed from the machine.
        var overdue: [Waiter] = []
        /// The id of a PING to send now.
        var ping: UInt32?
        /// Set when a PING went unanswered: the peer is hung and the connection must close.
        var hung = false
        /// When the timer must fire next; `nil` when nothing waits.
        var next: ContinuousClock.Instant?
    }

    private var pending: [UInt32: (waiter: Waiter, deadline: ContinuousClock.Instant, since: ContinuousClock.Instant)] = [:]
    private var nextID: UInt32 = 1
    private let liveness: Liveness?
    /// When a frame last came from the peer (or the connection opened).
    private var lastReceived: ContinuousClock.Instant
    /// The PING in flight: its id, and when the peer counts as hung if nothing has come by then.
    private var ping: (id: UInt32, deadline: ContinuousClock.Instant)?
    private var lastActivity: ContinuousClock.Instant
    /// When the deadline timer is set to fire; `nil` while it is not.
    private var timerDeadline: ContinuousClock.Instant?
    /// Why the connection closed; `nil` while it is open.
    private(set) var closeReason: String?

    /// A machine that checks `liveness` (none when `nil`), whose first request gets `firstID` (other than 1 only
    /// to test the wrap).
    init(now: ContinuousClock.Instant, liveness: Liveness? = nil, firstID: UInt32 = 1) {
        lastActivity = now
        lastReceived = now
        self.liveness = liveness
        nextID = firstID
    }

    /// Requests waiting for their replies.
    var inFlight: Int { pending.count }

    /// Gives `waiter`'s request an id no other request in flight has (never 0, which the protocol keeps for the
    /// connection itself).
    mutating func register(_ waiter: Waiter, deadline: ContinuousClock.Instant, now: ContinuousClock.Instant) -> Registration {
        guard closeReason == nil else { return .closed }
        let id = freshID()
        pending[id] = (waiter, deadline, now)
        lastActivity = now
        // The timer fires by this request's deadline, and by the time the peer's silence would call for a PING.
        let due = liveness.map { min(deadline, now + $0.quietLimit) } ?? deadline
        if let armed = timerDeadline, armed <= due { return .registered(id: id, armTimer: nil) }
        timerDeadline = due
        return .registered(id: id, armTimer: due)
    }

    private mutating func freshID() -> UInt32 {
        var id = nextID
        while id == 0 || pending[id] != nil || id == ping?.id { id &+= 1 }
        nextID = id &+ 1
        return id
    }

    /// Removes and returns the waiter of request `id`, if it still waits.
    mutating func take(_ id: UInt32) -> Waiter? {
        pending.removeValue(forKey: id)?.waiter
    }

    /// Records that bytes came from the peer: it is alive, and any PING in flight is answered.
    mutating func received(now: ContinuousClock.Instant) {
        lastActivity = now
        lastReceived = now
        ping = nil
    }

    /// The timer fired: removes the waiters whose deadline has passed, checks the peer's liveness, and says
    /// when the timer must fire next.
    mutating func expire(now: ContinuousClock.Instant) -> Expiry {
        var expiry = Expiry()
        var oldest: ContinuousClock.Instant?
        for (id, entry) in pending {
            if entry.deadline <= now {
                expiry.overdue.append(entry.waiter)
                pending[id] = nil
            } else {
                expiry.next = min(expiry.next ?? entry.deadline, entry.deadline)
                oldest = min(oldest ?? entry.since, entry.since)
            }
        }
        if let liveness, let oldest {
            let check: ContinuousClock.Instant
            if let ping {
                check = ping.deadline
                expiry.hung = now >= ping.deadline
            } else if now - max(oldest, lastReceived) >= liveness.quietLimit {
                let id = freshID()
                ping = (id, now + liveness.pingTimeout)
                expiry.ping = id
                check = now + liveness.pingTimeout
            } else {
                check = max(oldest, lastReceived) + liveness.quietLimit
            }
            expiry.next = min(expiry.next ?? check, check)
        }
        timerDeadline = expiry.next
        return expiry
    }

    /// Closes the connection for `reason` and returns every waiter, to be failed; `nil` if it was closed
    /// already.
    mutating func close(reason: String) -> [Waiter]? {
        guard closeReason == nil else { return nil }
        closeReason = reason
        timerDeadline = nil
        ping = nil
        defer { pending = [:] }
        return pending.values.map(\.waiter)
    }

    /// Whether nothing is in flight and nothing has crossed the connection for longer than `idleTimeout`.
    func isIdle(for idleTimeout: Duration, now: ContinuousClock.Instant) -> Bool {
        closeReason == nil && pending.isEmpty && now - lastActivity > idleTimeout
    }
}
