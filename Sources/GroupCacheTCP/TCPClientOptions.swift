public import GroupCacheAuth
public import GroupCacheWire

/// How a node's peer clients connect, for ``TCPTransport``.
public struct TCPClientOptions: Sendable {
    /// Connections per peer at most. Each carries many requests at once, so a few suffice.
    public var maxConnectionsPerPeer: Int
    /// Requests in flight on every open connection before the pool opens another (up to the maximum).
    public var requestsPerConnectionBeforeGrowing: Int
    /// How long a connect may take.
    public var connectTimeout: Duration
    /// After a failed connect or a refusal (ERROR id 0, as from a peer at its connection cap), the pool dials
    /// that peer again only after this long, jittered by ±50% (default 500 ms). Meanwhile requests use the
    /// peer's open connections, or fail at once when it has none, so a dead peer costs its callers nothing.
    public var reconnectBackoff: Duration
    /// Failures in a row that mark a peer down (default 3): a failed connect, a refusal, or a connection that
    /// broke with requests in flight. A connection found hung (``pingTimeout``) marks it down at once. While a
    /// peer is down its connections are closed and requests to it fail at once, so gets of its keys load
    /// locally without waiting.
    public var failuresBeforeDown: Int
    /// A connection whose queued requests have not moved for this long (default 10 s) is closed: a peer that
    /// stops reading cannot hold this node's requests in memory. Its callers fail over to the local loader.
    public var writeTimeout: Duration
    /// How often a down peer is probed with a new connection and a PING (default 1 s); the first answer brings
    /// it back.
    public var probeInterval: Duration
    /// A connection with nothing in flight for this long is closed: half the server's default idle timeout, so
    /// the client rarely finds a connection closed under it.
    public var idleTimeout: Duration
    /// Payload limits for replies, checked on each header.
    public var limits: FrameLimits
    /// A connection with requests in flight that has heard nothing from its peer for this long sends a PING
    /// (default 500 ms). Any frame from the peer answers it, so a busy peer is never pinged.
    public var pingAfter: Duration
    /// A PING unanswered for this long (default 1 s) means the peer is hung, not slow: the connection is
    /// closed, its callers load locally, and the peer is marked down. A peer too overloaded to answer a PING
    /// within it counts as hung too; bytes that arrived but this node has not read yet count as an answer. An owner whose loader takes seconds
    /// still answers PINGs, so its callers wait for its value, as single-flight across the cluster wants.
    public var pingTimeout: Duration
    /// The cluster's secrets (docs/PROTOCOL.md, "Authentication"): every connection opens with the handshake,
    /// made with the first, and every frame carries a tag. A peer that refuses the secret or cannot prove it
    /// fails the connection (``GroupCacheError/Code/unauthenticated``), counts against the peer, and its
    /// callers load locally; there is no fallback to untagged frames. `nil` (the default): no handshake.
    public var secrets: ClusterSecrets?
    /// How long the handshake of a new connection may take, within the caller's deadline (default 5 s, as the
    /// server's): the server answers HELLO in a turn of its queue, which a busy node may take a while to give.
    /// A handshake that times out counts as a failed connect.
    public var handshakeTimeout: Duration

    /// Creates options; every parameter has the documented default.
    public init(
        maxConnectionsPerPeer: Int = 4, requestsPerConnectionBeforeGrowing: Int = 32,
        connectTimeout: Duration = .seconds(1), reconnectBackoff: Duration = .milliseconds(500),
        idleTimeout: Duration = .seconds(60), limits: FrameLimits = FrameLimits(),
        pingAfter: Duration = .milliseconds(500), pingTimeout: Duration = .seconds(1),
        failuresBeforeDown: Int = 3, probeInterval: Duration = .seconds(1), writeTimeout: Duration = .seconds(10),
        secrets: ClusterSecrets? = nil, handshakeTimeout: Duration = .seconds(5)
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
        self.failuresBeforeDown = failuresBeforeDown
        self.probeInterval = probeInterval
        self.writeTimeout = writeTimeout
        self.secrets = secrets
        self.handshakeTimeout = handshakeTimeout
    }
}
