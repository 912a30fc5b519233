public import GroupCacheWire

/// Limits and timeouts of a ``TCPServer``. The defaults suit a node serving a few hundred peers.
public struct TCPServerOptions: Sendable {
    /// Payload limits by frame kind, checked on each header before its body is buffered.
    public var limits: FrameLimits
    /// Connections served at once; a connection past the limit gets ERROR 6 UNAVAILABLE and is closed.
    public var maxConnections: Int
    /// Requests one connection may have running at once; past it the server stops reading that connection
    /// until one finishes, so a single peer cannot queue unbounded work.
    public var maxInFlightPerConnection: Int
    /// A connection with nothing in flight and no bytes for this long is closed. Clients close theirs after half
    /// of the default (60 s), so they rarely find a connection closed under them.
    public var idleTimeout: Duration
    /// A frame must arrive whole within this time of its first byte, or the connection is closed: a peer cannot
    /// hold a connection with a slow drip of bytes.
    public var partialFrameTimeout: Duration
    /// How long ``TCPServer/shutdown()`` lets running requests finish before it closes their connections.
    public var shutdownTimeout: Duration

    /// Creates options; every parameter has the documented default.
    public init(
        limits: FrameLimits = FrameLimits(), maxConnections: Int = 1024, maxInFlightPerConnection: Int = 256,
        idleTimeout: Duration = .seconds(120), partialFrameTimeout: Duration = .seconds(10),
        shutdownTimeout: Duration = .seconds(30)
    ) {
        self.limits = limits
        self.maxConnections = maxConnections
        self.maxInFlightPerConnection = maxInFlightPerConnection
        self.idleTimeout = idleTimeout
        self.partialFrameTimeout = partialFrameTimeout
        self.shutdownTimeout = shutdownTimeout
    }
}
