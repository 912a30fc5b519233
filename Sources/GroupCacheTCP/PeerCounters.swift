import Synchronization

/// What this node's client saw of one peer, for STATS: liveness PINGs and the connections found hung.
///
/// Concurrency: atomics; any thread may update and read them.
final class PeerCounters: Sendable {
    /// PINGs sent because the peer was quiet while requests waited.
    let livenessPings = Atomic(0)
    /// Connections closed because a PING went unanswered.
    let hungConnections = Atomic(0)
}
