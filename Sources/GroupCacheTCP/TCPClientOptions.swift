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
    /// A connection with requests in flight that has heard nothing from its peer for this long sends a PING
    /// (default 500 ms). Any frame from the peer answers it, so a busy peer is never pinged.
    public var pingAfter: Duration
    /// A PING unanswered for this long (default 500 ms) means the peer is hung, not slow: the connection is
    /// closed, its callers load locally, and the peer counts a failure. An owner whose loader takes seconds
    /// still answers PINGs, so its callers wait for its value, as single-flight across the cluster wants.
    public var pingTimeout: Duration

    /// Creates options; every parameter has the documented default.
    public init(
        maxConnectionsPerPeer: Int = 4, requestsPerConnectionBeforeGrowing: Int = 32,
        connectTimeout: Duration = .seconds(1), reconnectBackoff: Duration = .milliseconds(500),
        idleTimeout: Duration = .seconds(60), limits: FrameLimits = FrameLimits(),
        pingAfter: Duration = .milliseconds(500), pingTimeout: Duration = .milliseconds(500)
    ) {
        precondition(maxConnectionsPerPeer > 0, "a peer needs at least one connection")
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
        self.requestsPerConnectionBeforeGrowing = requestsPerConnectionBeforeGrowing
        self.connectTimeout = connectTimeout
        self.reconnectBackoff = reconnectBackoff
        self.idleTimeout = idleTimeout
        self.limits = limits
        self.pingAfter = pingAfter
        self.pingTimeout = pingTimeout
    }
}
