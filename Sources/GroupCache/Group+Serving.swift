extension Group {
    // The receiving side of a transport. A request that came from a peer is served by this node itself, never
    // forwarded: were it forwarded, two nodes whose rings disagree could pass it back and forth until their
    // deadlines (Mailgun groupcache #72).

    /// Serves a peer's get: this node's caches, else its loader (once for all concurrent callers, local ones
    /// included), storing the value in the main cache. Never asks another peer.
    public func serveGet(_ key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        if let value = serveCachedGet(key) { return value }
        return try await serveLoad(key, deadline: deadline)
    }

    /// The first half of ``serveGet(_:deadline:)``, for transports that answer cache hits without suspending:
    /// counts a peer's get and returns the cached value, or `nil` on a miss, which the caller then passes to
    /// ``serveLoad(_:deadline:)``.
    public func serveCachedGet(_ key: CacheKey) -> CacheValue? {
        counters.serverRequests.increment()
        return cachedValue(forKey: key, countingGet: true)
    }

    /// The second half of ``serveGet(_:deadline:)``: loads `key` here after ``serveCachedGet(_:)`` missed.
    public func serveLoad(_ key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        try await loadHere(key, deadline: deadline, isPeerRequest: true)
    }

    /// Serves a peer's set: stores `value` in this node's main cache and drops any hot copy.
    public func serveSet(_ key: CacheKey, value: CacheValue) {
        counters.serverRequests.increment()
        storeHere(value, forKey: key)
    }

    /// Serves a peer's remove: removes `key` from this node's caches and detaches any load of it.
    public func serveRemove(_ key: CacheKey) {
        counters.serverRequests.increment()
        removeHere(key)
    }

    /// Serves a peer's remove of many keys: removes each from this node's caches and detaches any load of it.
    public func serveRemoveKeys(_ keys: [CacheKey]) {
        counters.serverRequests.increment()
        for key in keys { removeHere(key) }
    }
}
