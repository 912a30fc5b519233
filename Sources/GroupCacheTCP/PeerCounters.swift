import Synchronization

/// The liveness PINGs this node's client sent one peer, for STATS; its connections count them without the
/// pool's lock (hung connections are counted by the breaker, ``PeerHealth``).
///
/// Concurrency: atomics; any thread may update and read them.
final class PeerCounters: Sendable {
    /// PINGs sent because the peer was quiet while requests waited.
    let livenessPings = Atomic(0)
    /// Connections whose handshake failed: the peer refused this node's secret, or could not prove its own.
    let authFailures = Atomic(0)
}
