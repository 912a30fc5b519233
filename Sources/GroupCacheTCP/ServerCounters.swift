import GroupCacheWire
import Synchronization
import GroupCacheLock

/// A server's node-wide counters, which its connections update and STATS reports (``StatsResponse/Node``).
///
/// Concurrency: atomics; any thread may update and read them. Figures read together are not one snapshot.
final class ServerCounters: Sendable {
    /// Why the server closed a connection, or refused one.
    enum Cause: Int, CaseIterable {
        case connectionLimit, protocolViolation, tooLarge, idle, partialFrame, writeTimeout, unauthenticated
    }

    /// Connection objects alive: counted in `init` and `deinit`, so a connection the server forgot but did not
    /// free still shows here.
    let connectionObjects = Atomic(0)
    /// Connections the server holds open.
    let openConnections = Atomic(0)
    let accepted = Atomic(0)
    let bufferedOutputBytes = Atomic(0)
    let outputPauses = Atomic(0)
    let inputPauses = Atomic(0)
    let repliesTooLarge = Atomic(0)
    let acceptPauses = Atomic(0)
    /// Closes and refusals by cause: rare events, so one lock serves them all.
    private let causes = Lock([Int](repeating: 0, count: Cause.allCases.count))

    /// Counts one connection closed or refused for `cause`.
    func count(_ cause: Cause) {
        causes.withLock { $0[cause.rawValue] += 1 }
    }

    /// The connections closed or refused for `cause`.
    func count(of cause: Cause) -> Int {
        causes.withLock { $0[cause.rawValue] }
    }

    /// The counters as STATS reports them, with the input budget's `bufferedInputBytes`, which the budget keeps.
    func snapshot(bufferedInputBytes: Int) -> StatsResponse.Node {
        var node = StatsResponse.Node()
        func gauge(_ value: Int) -> UInt64 { UInt64(max(0, value)) }
        node.connections = gauge(openConnections.load(ordering: .relaxed))
        node.connectionObjects = gauge(connectionObjects.load(ordering: .relaxed))
        node.accepted = gauge(accepted.load(ordering: .relaxed))
        node.bufferedInputBytes = gauge(bufferedInputBytes)
        node.bufferedOutputBytes = gauge(bufferedOutputBytes.load(ordering: .relaxed))
        node.refusedConnectionLimit = gauge(count(of: .connectionLimit))
        node.closedProtocolViolation = gauge(count(of: .protocolViolation))
        node.closedTooLarge = gauge(count(of: .tooLarge))
        node.closedIdle = gauge(count(of: .idle))
        node.closedPartialFrame = gauge(count(of: .partialFrame))
        node.closedWriteTimeout = gauge(count(of: .writeTimeout))
        node.closedUnauthenticated = gauge(count(of: .unauthenticated))
        node.outputPauses = gauge(outputPauses.load(ordering: .relaxed))
        node.inputPauses = gauge(inputPauses.load(ordering: .relaxed))
        node.repliesTooLarge = gauge(repliesTooLarge.load(ordering: .relaxed))
        node.acceptPauses = gauge(acceptPauses.load(ordering: .relaxed))
        return node
    }
}
