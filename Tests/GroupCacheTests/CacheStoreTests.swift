@testable import GroupCache
import TestSupport
import Testing

@Suite struct CacheStoreTests {
    let clock = ManualWallClock()
    /// What each entry costs besides its bytes.
    let overhead = CacheStats.entryOverheadBytes

    func value(_ size: Int, expiry: Int64 = 0) -> CacheValue {
        CacheValue([UInt8](repeating: 7, count: size), expiryNanoseconds: expiry)
    }

    @Test func countsKeyAndValueBytes() {
        var store = CacheStore(budget: 1_000)
        store.store(value(10), forKey: "abc", in: .main)
        store.store(value(20), forKey: "de", in: .hot)
        #expect(store.stats.main.bytes == 13 + overhead)
        #expect(store.stats.hot.bytes == 22 + overhead)
        store.store(value(1), forKey: "abc", in: .main)
        #expect(store.stats.main.bytes == 4 + overhead, "replacing must release the old bytes (golang #177)")
        #expect(store.stats.main.items == 1)
    }

    /// Many tiny entries cannot take many times the budget: each counts its overhead.
    @Test func tinyEntriesCountTheirOverheadAgainstTheBudget() {
        var store = CacheStore(budget: 100 * (2 + overhead))
        for index in 0..<1_000 { store.store(value(1), forKey: CacheKey(bytes: [UInt8(index % 256)]), in: .main) }
        for index in 0..<1_000 { store.store(value(1), forKey: CacheKey(bytes: [0xff, UInt8(index % 256)]), in: .main) }
        #expect(store.stats.main.items <= 100)
        #expect(store.stats.main.bytes <= 100 * (2 + overhead))
    }

    @Test func aZeroBudgetCachesNothing() {
        var store = CacheStore(budget: 0)
        store.store(value(1), forKey: "k", in: .main)
        #expect(store.value(forKey: "k", clock: clock) == nil)
        #expect(store.stats.main.items == 0)
    }

    @Test func aValueLargerThanTheBudgetIsNotCachedAndEvictsNothing() {
        var store = CacheStore(budget: 100 + overhead)
        store.store(value(10), forKey: "small", in: .main)
        store.store(value(200), forKey: "big", in: .main)
        #expect(store.value(forKey: "big", clock: clock) == nil)
        #expect(store.value(forKey: "small", clock: clock) != nil)
    }

    /// golang's policy: over budget, evict from hot while hot holds more than main/8, else from main.
    @Test func theHotCacheStaysWithinAnEighthOfMain() {
        // Main entries of 100 bytes, hot ones of 50, each plus the overhead: 8 main entries and some hot ones fit.
        let mainEntry = 100 + overhead, hotEntry = 50 + overhead
        let budget = 8 * mainEntry + mainEntry / 8 + hotEntry
        var store = CacheStore(budget: budget)
        for index in 0..<8 { store.store(value(98), forKey: CacheKey("m\(index)"), in: .main) }
        for index in 0..<10 { store.store(value(48), forKey: CacheKey("h\(index)"), in: .hot) }
        let stats = store.stats
        #expect(stats.main.bytes + stats.hot.bytes <= budget)
        #expect(stats.hot.bytes <= stats.main.bytes / 8 + hotEntry, "hot \(stats.hot.bytes) main \(stats.main.bytes)")
        #expect(stats.main.items == 8, "main lost entries to hot-cache fills")
        #expect(stats.hot.evictions > 0)
    }

    @Test func anExpiredEntryIsAMissAndIsDropped() {
        var store = CacheStore(budget: 1_000)
        store.store(value(5, expiry: clock.now() + 1_000), forKey: "k", in: .main)
        #expect(store.value(forKey: "k", clock: clock) != nil)
        clock.advance(by: .microseconds(1))
        #expect(store.value(forKey: "k", clock: clock) == nil)
        let stats = store.stats.main
        #expect(stats.items == 0 && stats.bytes == 0)
        #expect(stats.gets == 2 && stats.hits == 1 && stats.evictions == 1)
    }

    @Test func storingInMainDropsTheHotCopy() {
        var store = CacheStore(budget: 1_000)
        store.store(value(5), forKey: "k", in: .hot)
        store.store(value(6), forKey: "k", in: .main)
        #expect(store.stats.hot.items == 0)
        #expect(store.value(forKey: "k", clock: clock)?.count == 6)
    }

    /// After random adds, replaces, removes and evictions, the byte counts equal the sum recomputed from what is
    /// held, and stay within the budget.
    @Test(arguments: [11, 12, 13])
    func byteCountsMatchARecomputedSum(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let budget = 2_000 + 10 * overhead
        var store = CacheStore(budget: budget)
        var keys: Set<CacheKey> = []
        for _ in 0..<5_000 {
            let key = CacheKey("key\(random.next() % 100)")
            keys.insert(key)
            switch random.next() % 5 {
            case 0: store.remove(key)
            case 1: store.store(value(Int(random.next() % 120)), forKey: key, in: .hot)
            default: store.store(value(Int(random.next() % 120)), forKey: key, in: .main)
            }
            let stats = store.stats
            #expect(stats.main.bytes + stats.hot.bytes <= budget)
        }
        let stats = store.stats
        var recomputed = 0
        var items = 0
        for key in keys {
            if let held = store.value(forKey: key, clock: clock) {
                recomputed += key.count + held.count + overhead
                items += 1
            }
        }
        #expect(stats.main.bytes + stats.hot.bytes == recomputed)
        #expect(stats.main.items + stats.hot.items == items)
    }
}
