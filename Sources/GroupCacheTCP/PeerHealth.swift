/// Whether one peer is worth asking, without a socket: the circuit breaker of a ``ConnectionPool``. The pool
/// feeds it failures and successes under its lock and acts on what it returns; tested without sockets.
///
/// A peer is *up* until `failuresToTrip` failures come in a row, or one connection is found hung; then it is
/// *down*: requests to it fail at once (the group loads locally), its connections are closed, and a probe (a
/// new connection and a PING) runs every `probeInterval` until one is answered and the peer is up again. A
/// failure is a failed connect, a refusal (ERROR id 0), or a connection that closed or broke with requests in
/// flight; a reply of any kind, NOT_FOUND included, is a success.
///
/// After a failed connect or a refusal, the pool dials that peer again only after a jittered backoff, so a
/// peer at its connection cap is not dialled once per request.
///
/// Concurrency: a value type; the pool's lock guards it.
struct PeerHealth {
    /// When a peer is taken out and how it is brought back.
    struct Settings {
        var failuresToTrip: Int
        var probeInterval: Duration
        /// The pause before the next dial after a failed connect or a refusal, jittered by ±50%.
        var dialBackoff: Duration
    }

    /// What the breaker says of a failure.
    enum Verdict: Equatable {
        /// The peer stays up.
        case stillUp
        /// The peer is down from now: close its connections and probe it at `probeAt`.
        case tripped(probeAt: ContinuousClock.Instant)
        /// The peer was down already.
        case alreadyDown
    }

    let settings: Settings
    /// Failures since the last success.
    private(set) var consecutiveFailures = 0
    /// When the peer went down; `nil` while it is up.
    private(set) var downSince: ContinuousClock.Instant?
    /// No dial before this, after a failed connect or a refusal.
    private(set) var dialAfter: ContinuousClock.Instant?
    /// The last failure, for messages.
    private(set) var lastFailure = ""
    private(set) var failures = 0
    /// Failures that were connections found hung.
    private(set) var hungConnections = 0
    private(set) var trips = 0
    private(set) var probes = 0
    private(set) var recoveries = 0

    init(settings: Settings) {
        self.settings = settings
    }

    var isDown: Bool { downSince != nil }

    /// Records a failure. `hung` trips the breaker at once: the peer has already had a second to answer.
    /// `backOff` (a failed connect or a refusal) holds dials back for the jittered backoff; `jitter` is in
    /// 0...1 (random in use, fixed in tests).
    mutating func failed(
        _ reason: String, hung: Bool = false, backOff: Bool = false, now: ContinuousClock.Instant, jitter: Double
    ) -> Verdict {
        failures += 1
        if hung { hungConnections += 1 }
        lastFailure = reason
        if backOff { dialAfter = now + settings.dialBackoff * (0.5 + jitter) }
        guard downSince == nil else { return .alreadyDown }
        consecutiveFailures += 1
        guard hung || consecutiveFailures >= settings.failuresToTrip else { return .stillUp }
        downSince = now
        trips += 1
        return .tripped(probeAt: now + settings.probeInterval)
    }

    /// Records a reply from the peer: the run of failures ends.
    mutating func succeeded() {
        consecutiveFailures = 0
    }

    /// Whether a new connection may be dialled now (not while down: only probes dial then).
    func mayDial(now: ContinuousClock.Instant) -> Bool {
        downSince == nil && dialAfter.map { now >= $0 } ?? true
    }

    /// Records a probe's outcome; returns when to probe next, or `nil` once the peer is up again.
    mutating func probed(answered: Bool, now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        probes += 1
        guard !answered else {
            if downSince != nil { recoveries += 1 }
            downSince = nil
            dialAfter = nil
            consecutiveFailures = 0
            return nil
        }
        return now + settings.probeInterval
    }
}
