public import GroupCacheAuth
public import GroupCacheWire

/// Limits and timeouts of a ``TCPServer``. The defaults suit a node with a few GiB of memory serving a few
/// hundred peers; docs/RELIABILITY.md says what happens at each limit.
///
/// Memory: a connection buffers at most one read (64 KiB) of complete frames, and its share of
/// ``maxBufferedInputBytes`` for a partial frame; its replies take at most ``maxOutputBytesPerConnection``
/// plus the reply that crosses it plus one reply per request still running (``maxInFlightPerConnection``).
public struct TCPServerOptions: Sendable {
    /// Payload limits by frame kind, checked on each header before its body is buffered. Replies are checked
    /// against them too: a value over ``FrameLimits/maxValueBytes`` is answered ERROR 5 TOO_LARGE.
    public var limits: FrameLimits
    /// Connections served at once; a connection past the limit gets ERROR 6 UNAVAILABLE and is closed.
    public var maxConnections: Int
    /// Requests one connection may have running at once; past it the server stops reading that connection
    /// until one finishes, so a single peer cannot queue unbounded work.
    public var maxInFlightPerConnection: Int
    /// Reply bytes one connection may have waiting to be written (default 2 MiB). At the cap the server stops
    /// reading that connection until its client has read enough: a slow reader is slowed, not closed.
    public var maxOutputBytesPerConnection: Int
    /// Bytes all connections together may hold in partial frames (default 256 MiB). A connection whose frame
    /// would pass it stops reading until there is room; a frame larger than the whole budget is answered
    /// ERROR 5 TOO_LARGE and the connection is closed.
    public var maxBufferedInputBytes: Int
    /// Requests started for one connection before the others on its queue get a turn (default 16, like
    /// memcached's `-R`), so that no connection waits behind another's burst.
    public var maxRequestsPerTurn: Int
    /// A connection with nothing in flight and no bytes for this long is closed. Clients close theirs after half
    /// of the default (60 s), so they rarely find a connection closed under them.
    public var idleTimeout: Duration
    /// A connection with part of a frame buffered is closed when less than 64 KiB of it arrives within this
    /// time (default 10 s): a large frame sent slowly completes, a drip of bytes does not hold the connection.
    public var partialFrameTimeout: Duration
    /// A connection whose unwritten replies have not moved for this long is closed (default 30 s): a peer that
    /// stops reading cannot hold its replies in memory.
    public var writeTimeout: Duration
    /// How long ``TCPServer/shutdown()`` lets running requests finish before it closes their connections.
    public var shutdownTimeout: Duration
    /// The cluster's secrets (docs/PROTOCOL.md, "Authentication"). With them every connection must complete the
    /// handshake before any request is taken, and every frame carries a tag; a connection that fails gets ERROR
    /// UNAUTHENTICATED and is closed. Without them (`nil`, the default) anyone who reaches the port is served,
    /// and ``TCPServer/start(host:port:)`` refuses to listen beyond loopback unless
    /// ``allowsUnauthenticatedNonLoopback`` is set.
    public var secrets: ClusterSecrets?
    /// Lets a server without ``secrets`` listen on an address other than loopback (127.0.0.0/8, ::1): the
    /// explicit opt-out of protected mode, `groupcache-node --insecure`. Default `false`.
    public var allowsUnauthenticatedNonLoopback: Bool
    /// A connection whose handshake is not complete this long after it was accepted is closed (default 5 s).
    public var handshakeTimeout: Duration

    /// The bytes of a partial frame that must arrive within ``partialFrameTimeout``.
    public static let partialFrameProgressBytes = 64 << 10

    /// Creates options; every parameter has the documented default.
    public init(
        limits: FrameLimits = FrameLimits(), maxConnections: Int = 1024, maxInFlightPerConnection: Int = 256,
        maxOutputBytesPerConnection: Int = 2 << 20, maxBufferedInputBytes: Int = 256 << 20,
        maxRequestsPerTurn: Int = 16, idleTimeout: Duration = .seconds(120),
        partialFrameTimeout: Duration = .seconds(10), writeTimeout: Duration = .seconds(30),
        shutdownTimeout: Duration = .seconds(30), secrets: ClusterSecrets? = nil,
        allowsUnauthenticatedNonLoopback: Bool = false, handshakeTimeout: Duration = .seconds(5)
    ) {
        precondition(maxRequestsPerTurn > 0, "a turn must start at least one request")
        self.limits = limits
        self.maxConnections = maxConnections
        self.maxInFlightPerConnection = maxInFlightPerConnection
        self.maxOutputBytesPerConnection = maxOutputBytesPerConnection
        self.maxBufferedInputBytes = maxBufferedInputBytes
        self.maxRequestsPerTurn = maxRequestsPerTurn
        self.idleTimeout = idleTimeout
        self.partialFrameTimeout = partialFrameTimeout
        self.writeTimeout = writeTimeout
        self.shutdownTimeout = shutdownTimeout
        self.secrets = secrets
        self.allowsUnauthenticatedNonLoopback = allowsUnauthenticatedNonLoopback
        self.handshakeTimeout = handshakeTimeout
    }
}
