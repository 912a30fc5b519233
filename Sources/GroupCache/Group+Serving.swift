extension Group {
    // The receiving side of a transport (TCP and InMemoryNetwork), behind `@_spi(Transport)` so that services do
    // not see it. A request that came from a peer is served by this node itself, never forwarded: were it
    // forwarded, two nodes whose rings disagree could pass it back and forth until their deadlines (Mailgun
    // groupcache #72). A peer's get is two calls, so that a transport answers cache hits without suspending.

    /// Counts a peer's get and returns the value cached here, or `nil` on a miss, which the transport then
    /// passes to ``serveLoad(_:deadline:)``.
    @_spi(Transport)
    public func serveCachedGet(_ key: CacheKey) -> CacheValue? {
        counters.serverRequests.increment()
        return cachedValue(forKey: key, countingGet: true)
    }

    /// Loads `key` here after ``serveCachedGet(_:)`` missed: this node's loader, once for all concurrent callers
    /// (local ones included), storing the value in the main cache. Never asks another peer.
    @_spi(Transport)
    public func serveLoad(_ key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        try await loadHere(key, deadline: deadline, isPeerRequest: true)
    }

    /// Serves a peer's set: stores `value` in this node's main cache and drops any hot copy.
    @_spi(Transport)
    public func serveSet(_ key: CacheKey, value: CacheValue) {
        counters.serverRequests.increment()
        storeHere(value, forKey: key)
    }

    /// Serves a peer's remove of one key or many: removes each from this node's caches and detaches any load of
    /// it.
    @_spi(Transport)
    public func serveRemove(_ keys: [CacheKey]) {
        counters.serverRequests.increment()
        for key in keys { removeHere(key) }
    }
}
