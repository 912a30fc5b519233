/// How a group behaves besides its name, budget and loader.
public struct GroupOptions: Sendable {
    /// Whether values fetched from their owner are kept in this node's hot cache. On by default, as in Mailgun's
    /// groupcache (golang kept one in ten): repeat gets of a popular key then cost no round trip.
    public var hotCache: Bool
    /// How long a get, set or remove may take when the caller gives no timeout of its own.
    public var defaultTimeout: Duration

    /// Creates options; the defaults keep a hot cache and allow 5 seconds.
    public init(hotCache: Bool = true, defaultTimeout: Duration = .seconds(5)) {
        self.hotCache = hotCache
        self.defaultTimeout = defaultTimeout
    }
}

/// What a loader is told besides the key.
public struct LoadContext: Sendable {
    /// The group whose cache missed.
    public let group: Group
    /// When the caller that started this load stops waiting. The load is not cancelled then (other callers may
    /// still wait, and its value is cached for the next), but a loader that cannot finish by then may give up.
    public let deadline: ContinuousClock.Instant
    /// Whether a peer asked for the key, rather than a caller on this node.
    public let isPeerRequest: Bool
}

/// Produces the value of a key on a cache miss: the service's own code, such as a database query.
///
/// It runs at most once at a time per key on this node, however many callers ask at once, and its task is not
/// any caller's, so it runs to the end even if every caller has gone. Throw ``GroupCacheError/notFound(_:)``
/// when the key does not exist; any other error reaches the callers as it is (as `loadFailed` at a remote
/// caller). Errors are never cached.
public typealias Loader = @Sendable (_ key: CacheKey, _ context: LoadContext) async throws -> CacheValue
