import GroupCacheLRU

/// A group's main and hot caches under one byte budget.
///
/// Each entry costs its key's bytes plus its value's bytes plus ``CacheStats/entryOverheadBytes``, so that the
/// budget bounds memory however small the entries are. After every insert, while the two together exceed
/// the budget, the oldest entry goes from the hot cache if it holds more than an eighth of what main holds,
/// else from main (golang and Mailgun's policy). A budget of 0 caches nothing. A value larger than the whole
/// budget is not cached, rather than flushing everything else for it.
///
/// Concurrency: a value type; the group keeps it under its lock.
struct CacheStore {
    enum Tier { case main, hot }

    private var main = LRUCache<CacheKey, CacheValue>()
    private var hot = LRUCache<CacheKey, CacheValue>()
    private var mainCounts = CacheStats()
    private var hotCounts = CacheStats()
    let budget: Int
    /// The group's gets and cache hits (GroupStats.gets, .cacheHits), kept here because every get takes this
    /// store's lock anyway.
    var gets = 0
    var hits = 0

    init(budget: Int) {
        self.budget = max(0, budget)
    }

    /// Returns the live value of `key` from main, then hot; an expired entry is dropped and counts as a miss.
    mutating func value(forKey key: CacheKey, clock: any WallClock) -> CacheValue? {
        if let value = Self.lookup(key, in: &main, counts: &mainCounts, clock: clock) { return value }
        return Self.lookup(key, in: &hot, counts: &hotCounts, clock: clock)
    }

    private static func lookup(
        _ key: CacheKey, in cache: inout LRUCache<CacheKey, CacheValue>, counts: inout CacheStats, clock: any WallClock
    ) -> CacheValue? {
        counts.gets += 1
        guard let value = cache.value(forKey: key) else { return nil }
        if value.expiryNanoseconds != 0, value.isExpired(at: clock.now()) {
            cache.removeValue(forKey: key)
            counts.evictions += 1
            return nil
        }
        counts.hits += 1
        return value
    }

    /// Stores `value` under `key` in `tier`, replacing any entry there; storing in main drops a hot copy, and a
    /// key that main holds is not stored in hot.
    mutating func store(_ value: CacheValue, forKey key: CacheKey, in tier: Tier) {
        let cost = key.count + value.count + CacheStats.entryOverheadBytes
        guard budget > 0, cost <= budget else { return }
        switch tier {
        case .main:
            hot.removeValue(forKey: key)
            main.setValue(value, forKey: key, cost: cost)
        case .hot:
            // A key lives in one tier at most; main, which the owner keeps fresh, wins.
            guard main.peek(key) == nil else { return }
            hot.setValue(value, forKey: key, cost: cost)
        }
        while main.totalCost + hot.totalCost > budget {
            if hot.totalCost > main.totalCost / 8 {
                hot.removeOldest()
                hotCounts.evictions += 1
            } else {
                main.removeOldest()
                mainCounts.evictions += 1
            }
        }
    }

    /// Removes `key` from both caches.
    mutating func remove(_ key: CacheKey) {
        main.removeValue(forKey: key)
        hot.removeValue(forKey: key)
    }

    /// Removes `key` from the hot cache only.
    mutating func removeHotCopy(_ key: CacheKey) {
        hot.removeValue(forKey: key)
    }

    /// The two caches' counters, with their current sizes.
    var stats: (main: CacheStats, hot: CacheStats) {
        var main = mainCounts
        main.bytes = self.main.totalCost
        main.items = self.main.count
        var hot = hotCounts
        hot.bytes = self.hot.totalCost
        hot.items = self.hot.count
        return (main, hot)
    }
}
