import GroupCacheSingleFlight
import GroupCacheLock

/// A named cache of values that this node and its peers share, filled on a miss by a loader.
///
/// Each key has one owner among the peers. ``get(_:timeout:)`` answers from this node's main cache (values it
/// owns) or hot cache (copies of values others own); on a miss it asks the owner, which loads the value once
/// however many callers, here or at other nodes, ask at the same time.
///
/// Make groups with ``GroupRegistry/makeGroup(name:cacheBytes:options:loader:)``.
///
/// Concurrency: every method may be called from any task. The caches sit behind one lock that is held only
/// for dictionary-speed work, never across a suspension or a call out.
public final class Group: Sendable {
    /// The group's name, the same on every node.
    public let name: String
    /// The byte budget shared by the main and hot caches.
    public let cacheBytes: Int
    /// The group's behaviour.
    public let options: GroupOptions

    let loader: Loader
    let peers: (any PeerPicker)?
    let clock: any WallClock
    let caches: Lock<CacheStore>
    let counters = GroupCounters()
    /// Removes to send again to peers they could not reach.
    let pendingRemoves: PendingRemoves

    /// Loads that run here: gets of keys this node owns, and every request from a peer. They never ask a peer,
    /// so a cycle of nodes asking each other cannot form even when their rings disagree.
    let localFlights = SingleFlight<CacheKey, Loaded>()
    /// Fetches from a remote owner, for gets on this node.
    let remoteFlights = SingleFlight<CacheKey, Loaded>()

    /// A value a flight produced, and the cache it belongs in (none, if the hot cache is off).
    struct Loaded: Sendable {
        let value: CacheValue
        let tier: CacheStore.Tier?
    }

    init(
        name: String, cacheBytes: Int, options: GroupOptions, peers: (any PeerPicker)?, clock: any WallClock,
        loader: @escaping Loader
    ) {
        self.name = name
        self.cacheBytes = cacheBytes
        self.options = options
        self.peers = peers
        self.clock = clock
        self.loader = loader
        self.caches = Lock(CacheStore(budget: cacheBytes))
        self.pendingRemoves = PendingRemoves(limit: options.maxPendingRemoves, interval: options.removeRetryInterval)
    }

    /// Returns the value of `key`: from this node's caches, else from its owner, which loads it once for all
    /// concurrent callers.
    ///
    /// A peer that fails (refused, reset, malformed reply) is counted in ``GroupStats/peerErrors`` and the value
    /// is loaded here instead, unless the deadline has passed. A value a peer sends already expired is refused and
    /// loaded here.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - timeout: How long to wait; ``GroupOptions/defaultTimeout`` if `nil`. The load goes on after it.
    /// - Throws: ``GroupCacheError`` with ``GroupCacheError/Code/notFound``, ``GroupCacheError/Code/loadFailed``
    ///   (from a remote loader) or ``GroupCacheError/Code/deadlineExceeded``; the local loader's own error;
    ///   `CancellationError` if the calling task is cancelled, which the other waiters do not see.
    public func get(_ key: CacheKey, timeout: Duration? = nil) async throws -> CacheValue {
        if let value = cachedValue(forKey: key, countingGet: true) { return value }
        return try await getMissed(key, timeout: timeout)
    }

    /// A snapshot of the group's counters and its caches' sizes.
    public var stats: GroupStats {
        var stats = counters.snapshot()
        (stats.removesPending, stats.removesRetried, stats.removesDropped) = pendingRemoves.counts
        (stats.mainCache, stats.hotCache, stats.gets, stats.cacheHits) = caches.withLock { caches in
            let sizes = caches.stats
            return (sizes.main, sizes.hot, caches.gets, caches.hits)
        }
        return stats
    }

    /// Returns the cached value of `key`, or `nil`. Gets and hits are counted under the caches' lock, which the
    /// lookup takes anyway: two atomic increments fewer on every hit.
    func cachedValue(forKey key: CacheKey, countingGet: Bool = false) -> CacheValue? {
        caches.withLock { caches in
            if countingGet { caches.gets += 1 }
            let value = caches.value(forKey: key, clock: clock)
            if value != nil { caches.hits += 1 }
            return value
        }
    }

    /// Throws ``GroupCacheError/Code/tooLarge`` if `value` is over ``GroupOptions/maxValueBytes``.
    func checkSize(of value: CacheValue, for key: CacheKey, _ what: String) throws(GroupCacheError) {
        guard value.bytes.count > options.maxValueBytes else { return }
        throw GroupCacheError(
            .tooLarge, "\(what) for \(key) is \(value.bytes.count) bytes; group \(name) keeps at most \(options.maxValueBytes)")
    }
}
