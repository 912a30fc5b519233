public import GroupCacheWire

/// How a node's peer clients connect, for ``TCPTransport``.
public struct TCPClientOptions: Sendable {
    /// Connections per peer at most. Each carries many requests at once, so a few suffice.
    public var maxConnectionsPerPeer: Int
    /// Requests in flight on every open connection before the pool opens another (up to the maximum).
    public var requestsPerConnectionBeforeGrowing: Int
    /// How long a connect may take.
    public var connectTimeout: Duration
    /// After a refused or failed connect, calls to that peer fail at once for this long instead of dialling
    /// again, so a dead peer costs its callers nothing.
    public var reconnectBackoff: Duration
    /// A connection with nothing in flight for this long is closed: half the server's default idle timeout, so
    /// the client rarely finds a connection closed under it.
    public var idleTimeout: Duration
    /// Payload limits for replies, checked on each header.
    public var limits: FrameLimits

    /// Creates options; every parameter has the documented default.
    public init(
        maxConnectionsPerPeer: Int = 4, requestsPerConnectionBeforeGrowing: Int = 32,
        connectTimeout: Duration = .seconds(1), reconnectBackoff: Duration = .milliseconds(500),
        idleTimeout: Duration = .seconds(60), limits: FrameLimits = FrameLimits()
    ) {
        precondition(maxConnectionsPerPeer > 0, "a peer needs at least one connection")
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.requestsPerConnectionBeforeGrowing = requestsPerConnectionBeforeGrowing
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
        self.idleTimeout = idleTimeout
        self.limits = limits
    }
}
