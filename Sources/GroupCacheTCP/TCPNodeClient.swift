public import GroupCache
import GroupCacheWire

/// A client of one node, for tools and services outside the cluster: its requests carry ROUTE, so the node
/// runs them as its own callers' (a get may ask the key's owner and fills the node's hot cache; a remove goes to
/// the owner and then to every peer).
///
/// ```swift
/// let node = try TCPNodeClient(address: "127.0.0.1:8080")
/// let value = try await node.get("12345", group: "users")
/// ```
///
/// Concurrency: every method may be called from any task; requests share a few pooled connections.
public final class TCPNodeClient: Sendable {
    /// The node's address, `host:port`.
    public let address: String
    private let client: TCPPeerClient

    /// Creates a client of the node at `address` (`host:port`); nothing is dialled until the first request.
    ///
    /// - Throws: ``GroupCacheError/Code/badRequest`` if the address is not `host:port`.
    public init(address: String, options: TCPClientOptions = TCPClientOptions()) throws(GroupCacheError) {
        self.address = address
        self.client = try TCPPeerClient(peer: Peer(id: address, address: address), options: options)
    }

    /// Returns the value of `key` in `group`, as `group.get` on the node returns it.
    ///
    /// - Throws: ``GroupCacheError`` with `notFound`, `loadFailed`, `noSuchGroup`, `peerUnavailable` (the node
    ///   is down or refused), `deadlineExceeded`.
    public func get(_ key: CacheKey, group: String, timeout: Duration = .seconds(10)) async throws -> CacheValue {
        try await client.get(group: group, key: key, flags: .route, deadline: .now + timeout)
    }

    /// Stores `value` under `key` in `group` on every node, owner first.
    public func set(_ key: CacheKey, to value: CacheValue, group: String, timeout: Duration = .seconds(10)) async throws {
        try await client.set(group: group, key: key, value: value, flags: .route, deadline: .now + timeout)
    }

    /// Removes `key` from `group` on every node, owner first.
    public func remove(_ key: CacheKey, group: String, timeout: Duration = .seconds(10)) async throws {
        try await client.remove(group: group, key: key, flags: .route, deadline: .now + timeout)
    }

    /// Returns each group's counters at the node.
    public func stats(timeout: Duration = .seconds(10)) async throws -> [String: GroupStats] {
        try await report(timeout: timeout).groups
    }

    /// Returns each group's counters at the node; its server's counters (connections, buffered bytes,
    /// refusals by cause) by their names in the proto's `NodeStats`, in that order, `nil` for a node that does
    /// not send them (a Go peer); and what its client sees of each of its peers (`PeerStats`: whether it is
    /// marked down, its connections, failures, trips, probes and recoveries), empty from a Go peer.
    public func report(
        timeout: Duration = .seconds(10)
    ) async throws -> (
        groups: [String: GroupStats], server: [(name: String, value: UInt64)]?,
        peers: [(id: String, isDown: Bool, counters: [(name: String, value: UInt64)])]
    ) {
        let response = try await client.stats(deadline: .now + timeout)
        var groups: [String: GroupStats] = [:]
        for group in response.groups { groups[String(decoding: group.name, as: UTF8.self)] = GroupStats(group) }
        let server = response.node.map { node in StatsResponse.Node.fields.map { ($0.name, node[keyPath: $0.keyPath]) } }
        let peers = response.peers.map { peer in
            (peer.id, peer.isDown, StatsResponse.Peer.fields.map { ($0.name, peer[keyPath: $0.keyPath]) })
        }
        return (groups, server, peers)
    }

    /// Sends a PING and returns how long the PONG took.
    public func ping(timeout: Duration = .seconds(10)) async throws -> Duration {
        let started = ContinuousClock.now
        try await client.ping(deadline: .now + timeout)
        return ContinuousClock.now - started
    }
}
