import GroupCacheSingleFlight
import Synchronization

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
    let caches: Mutex<CacheStore>
    let counters = GroupCounters()

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
        self.caches = Mutex(CacheStore(budget: cacheBytes))
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

    /// The miss path of ``get(_:timeout:)``, apart so that a hit runs in a small async frame that allocates
    /// nothing.
    ///
    /// `get` is deliberately not `nonisolated(nonsending)`: under Swift 6.3.1 that made the key's storage be
    /// released before this call read it (a crash in `CacheKey.withUnsafeBytes`, every run of the TCP tests).
    @inline(never)
    private func getMissed(_ key: CacheKey, timeout: Duration?) async throws -> CacheValue {
        let deadline = ContinuousClock.now + (timeout ?? options.defaultTimeout)
        if let owner = peers?.owner(of: key) {
            return try await load(
                key, deadline: deadline, isPeerRequest: false, in: remoteFlights,
                attempt: { finishBy in try await self.fetchOnce(key, from: owner, deadline: finishBy) }
            ) { loadDeadline, failedFetch in
                // After a failed fetch, straight to the local loader: asking the peer again would wait again.
                if let failedFetch { return try await self.fallBack(key, from: owner, after: failedFetch, loadDeadline: loadDeadline) }
                return try await self.fetch(key, from: owner, loadDeadline: loadDeadline)
            }
        }
        return try await loadHere(key, deadline: deadline, isPeerRequest: false)
    }

    /// A snapshot of the group's counters and its caches' sizes.
    public var stats: GroupStats {
        var stats = counters.snapshot()
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

    func loadHere(_ key: CacheKey, deadline: ContinuousClock.Instant, isPeerRequest: Bool) async throws -> CacheValue {
        try await load(key, deadline: deadline, isPeerRequest: isPeerRequest, in: localFlights) { loadDeadline, _ in
            try await self.runLoader(key, loadDeadline: loadDeadline, isPeerRequest: isPeerRequest)
        }
    }

    /// Joins or starts the flight for `key` in `flights`; the flight checks the caches once more, then runs
    /// `fill` with the load's own deadline, and stores its value unless a write detached it meanwhile.
    ///
    /// The caller waits until `deadline`; the load runs until ``GroupOptions/loadTimeout`` has passed since it
    /// started. A load that times out fails every waiter: with `deadlineExceeded` here, and with `loadFailed` for a
    /// peer's request, so that the peer reports it instead of loading the key a second time.
    ///
    /// With `attempt` (a fetch from the owner), the flight's leader first runs it in its own task, by its own
    /// deadline: one task and one thread hop fewer per fetch, which doubled throughput with many callers. If the
    /// attempt fails with a peer's error, or the leader leaves while others wait, `fill` runs as above, told the
    /// attempt's error (`nil` when the leader left), so that it does not ask a failed peer a second time.
    private func load(
        _ key: CacheKey, deadline: ContinuousClock.Instant, isPeerRequest: Bool,
        in flights: SingleFlight<CacheKey, Loaded>,
        attempt: (@Sendable (_ finishBy: ContinuousClock.Instant) async throws -> Loaded)? = nil,
        fill: @escaping @Sendable (_ loadDeadline: ContinuousClock.Instant, _ failedAttempt: (any Error)?) async throws -> Loaded
    ) async throws -> CacheValue {
        counters.loads.increment()
        let loadTimeout = options.loadTimeout
        let commit: @Sendable (Result<Loaded, any Error>) -> Void = { result in
            guard case .success(let loaded) = result, let tier = loaded.tier,
                !loaded.value.isExpired(at: self.clock.now())
            else { return }
            self.caches.withLock { $0.store(loaded.value, forKey: key, in: tier) }
        }
        do {
            guard let attempt else {
                return try await flights.value(
                    for: key, deadline: deadline, timeLimit: loadTimeout,
                    operation: { try await self.fillUnlessCached(key) { try await fill(ContinuousClock.now + loadTimeout, nil) } },
                    commit: commit
                ).value.value
            }
            return try await flights.value(
                for: key, deadline: deadline, timeLimit: loadTimeout,
                attempt: { finishBy in try await self.fillUnlessCached(key) { try await attempt(finishBy) } },
                handsOver: { !GroupCacheError.isCallerVisible($0) },
                operation: { failedAttempt in try await fill(ContinuousClock.now + loadTimeout, failedAttempt) },
                commit: commit
            ).value.value
        } catch is DeadlineExceededError {
            throw GroupCacheError(.deadlineExceeded, "get of \(key) in group \(name) timed out")
        } catch let error as OperationTimedOutError {
            throw GroupCacheError(
                isPeerRequest ? .loadFailed : .deadlineExceeded,
                "load of \(key) in group \(name) timed out after \(error.limit) (the group's load timeout)")
        }
    }

    /// Runs `fill` for a flight that starts now, unless another flight filled the cache between this caller's
    /// miss and now.
    private func fillUnlessCached(_ key: CacheKey, _ fill: () async throws -> Loaded) async throws -> Loaded {
        if let value = cachedValue(forKey: key) { return Loaded(value: value, tier: nil) }
        counters.loadsDeduped.increment()
        return try await fill()
    }

    /// Asks `owner` for `key` once, by `deadline` (capped by the peer timeout).
    private func fetchOnce(_ key: CacheKey, from owner: any PeerClient, deadline: ContinuousClock.Instant) async throws -> Loaded {
        let callDeadline = options.peerTimeout.map { min(deadline, .now + $0) } ?? deadline
        let value = try await owner.get(group: name, key: key, deadline: callDeadline)
        if value.isExpired(at: clock.now()) {
            throw GroupCacheError(.peerProtocol, "peer \(owner.id) sent \(key) already expired")
        }
        counters.peerLoads.increment()
        return Loaded(value: value, tier: options.hotCache ? .hot : nil)
    }

    private func fetch(
        _ key: CacheKey, from owner: any PeerClient, loadDeadline: ContinuousClock.Instant
    ) async throws -> Loaded {
        do {
            return try await fetchOnce(key, from: owner, deadline: loadDeadline)
        } catch where GroupCacheError.isCallerVisible(error) {
            throw error
        } catch {
            return try await fallBack(key, from: owner, after: error, loadDeadline: loadDeadline)
        }
    }

    /// Loads `key` here after a fetch from `owner` failed with `error` (a peer's failure, not the loader's
    /// verdict): a failing peer never fails a get that the local loader can serve.
    private func fallBack(
        _ key: CacheKey, from owner: any PeerClient, after error: any Error, loadDeadline: ContinuousClock.Instant
    ) async throws -> Loaded {
        counters.peerErrors.increment()
        guard ContinuousClock.now < loadDeadline else {
            throw GroupCacheError(.deadlineExceeded, "get of \(key) from peer \(owner.id) timed out: \(error)")
        }
        return try await runLoader(key, loadDeadline: loadDeadline, isPeerRequest: false)
    }

    private func runLoader(
        _ key: CacheKey, loadDeadline: ContinuousClock.Instant, isPeerRequest: Bool
    ) async throws -> Loaded {
        do {
            let context = LoadContext(group: self, deadline: loadDeadline, isPeerRequest: isPeerRequest)
            let value = try await loader(key, context)
            try checkSize(of: value, for: key, "the loader's value")
            counters.localLoads.increment()
            return Loaded(value: value, tier: .main)
        } catch {
            counters.localLoadErrs.increment()
            throw error
        }
    }

    /// Throws ``GroupCacheError/Code/tooLarge`` if `value` is over ``GroupOptions/maxValueBytes``.
    func checkSize(of value: CacheValue, for key: CacheKey, _ what: String) throws(GroupCacheError) {
        guard value.bytes.count > options.maxValueBytes else { return }
        throw GroupCacheError(
            .tooLarge, "\(what) for \(key) is \(value.bytes.count) bytes; group \(name) keeps at most \(options.maxValueBytes)")
    }
}
