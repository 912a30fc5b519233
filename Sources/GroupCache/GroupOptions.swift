/// How a group behaves besides its name, budget and loader.
public struct GroupOptions: Sendable {
    /// Whether values fetched from their owner are kept in this node's hot cache. On by default, as in Mailgun's
    /// groupcache (golang kept one in ten): repeat gets of a popular key then cost no round trip.
    public var hotCache: Bool
    /// How long a get, set or remove may take when the caller gives no timeout of its own.
    public var defaultTimeout: Duration
    /// How long one load (the loader, or a fetch from the owner) may run, whoever waits for it. When it passes,
    /// the loader's task is cancelled, every caller still waiting gets ``GroupCacheError/Code/deadlineExceeded``,
    /// the key is free for a new load, and a late value is cached nowhere. A peer that asked gets
    /// ``GroupCacheError/Code/loadFailed``, so it does not load the key again itself.
    public var loadTimeout: Duration
    /// The most a single call to a peer may take within a load; `nil` (the default) lets it use all of the load's
    /// remaining time.
    ///
    /// Setting it trades herd protection for latency: when a slow owner passes this limit, the caller loads the
    /// key itself, so during an owner's slow load every node may load the same key once.
    public var peerTimeout: Duration?
    /// The largest value the group keeps, in bytes (default 64 MiB, the TCP transport's default frame limit). A
    /// loader's value over it fails the load with ``GroupCacheError/Code/tooLarge`` (nothing is cached, and a
    /// peer that asked is told so), and ``Group/set(_:to:timeout:)`` refuses one before it reaches any node: a
    /// value that peers could not carry never enters the cache.
    public var maxValueBytes: Int
    /// The most keys kept, over all peers, to remove again at peers a remove or set could not reach (default
    /// 10,000): they are sent again every ``removeRetryInterval`` until each peer takes them, so a healed
    /// partition converges without waiting for expiry. A key past the limit is dropped and counted in
    /// ``GroupStats/removesDropped``; such a peer may serve its old copy until it expires or is evicted.
    public var maxPendingRemoves: Int
    /// How often queued removes are sent again (default 1 s).
    public var removeRetryInterval: Duration

    /// Creates options; the defaults keep a hot cache, give callers 5 seconds and loads 30.
    public init(
        hotCache: Bool = true, defaultTimeout: Duration = .seconds(5), loadTimeout: Duration = .seconds(30),
        peerTimeout: Duration? = nil, maxValueBytes: Int = 64 << 20, maxPendingRemoves: Int = 10_000,
        removeRetryInterval: Duration = .seconds(1)
    ) {
        self.hotCache = hotCache
        self.defaultTimeout = defaultTimeout
        self.loadTimeout = loadTimeout
        self.peerTimeout = peerTimeout
        self.maxValueBytes = maxValueBytes
        self.maxPendingRemoves = maxPendingRemoves
        self.removeRetryInterval = removeRetryInterval
    }
}

/// What a loader is told besides the key.
public struct LoadContext: Sendable {
    /// The group whose cache missed.
    public let group: Group
    /// When this load's time is up: its start plus ``GroupOptions/loadTimeout``, whichever caller started it. The
    /// loader's task is cancelled then (`Task.isCancelled`, `Task.checkCancellation()`), and a value it returns
    /// later is dropped. Callers that stop waiting earlier do not cut the load short.
    public let deadline: ContinuousClock.Instant
    /// Whether a peer asked for the key, rather than a caller on this node.
    public let isPeerRequest: Bool
}

/// Produces the value of a key on a cache miss: the service's own code, such as a database query.
///
/// It runs at most once at a time per key on this node, however many callers ask at once, and its task is not
/// any caller's, so it runs to the end even if every caller has gone, up to the group's
/// ``GroupOptions/loadTimeout``, when its task is cancelled. Throw ``GroupCacheError/notFound(_:)``
/// when the key does not exist; any other error reaches the callers as it is (as `loadFailed` at a remote
/// caller). Errors are never cached.
public typealias Loader = @Sendable (_ key: CacheKey, _ context: LoadContext) async throws -> CacheValue
