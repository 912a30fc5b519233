@testable import GroupCacheLRU
import TestSupport
import Testing

@Suite struct LRUCacheTests {
    @Test func evictsTheLeastRecentlyUsed() {
        var cache = LRUCache<String, Int>()
        cache.setValue(1, forKey: "a", cost: 1)
        cache.setValue(2, forKey: "b", cost: 1)
        cache.setValue(3, forKey: "c", cost: 1)
        #expect(cache.value(forKey: "a") == 1)  // a becomes the newest
        let evicted = cache.removeOldest()
        #expect(evicted?.key == "b", "got \(String(describing: evicted?.key)); want b")
        #expect(cache.keysByRecency == ["a", "c"])
    }

    @Test func peekDoesNotChangeRecency() {
        var cache = LRUCache<String, Int>()
        cache.setValue(1, forKey: "a", cost: 1)
        cache.setValue(2, forKey: "b", cost: 1)
        #expect(cache.peek("a") == 1)
        #expect(cache.removeOldest()?.key == "a")
    }

    @Test(arguments: [
        (first: 10, second: 3),
        (first: 3, second: 10),
        (first: 0, second: 7),
    ])
    func replacingReleasesTheOldCost(first: Int, second: Int) {
        var cache = LRUCache<String, String>()
        cache.setValue("x", forKey: "k", cost: first)
        let replaced = cache.setValue("y", forKey: "k", cost: second)
        #expect(replaced == "x")
        #expect(cache.totalCost == second, "got \(cache.totalCost); want \(second)")
        #expect(cache.count == 1)
    }

    @Test func removeReleasesCostAndSlotsAreReused() {
        var cache = LRUCache<Int, Int>()
        for key in 0..<100 { cache.setValue(key, forKey: key, cost: key) }
        for key in 0..<100 where key % 2 == 0 { cache.removeValue(forKey: key) }
        #expect(cache.totalCost == (0..<100).filter { $0 % 2 == 1 }.reduce(0, +))
        for key in 100..<150 { cache.setValue(key, forKey: key, cost: 1) }
        #expect(cache.count == 100)
        #expect(cache.keysByRecency.first == 149)
        #expect(cache.keysByRecency.last == 1)
    }

    @Test func emptyCacheHasNothingToEvict() {
        var cache = LRUCache<Int, Int>()
        #expect(cache.removeOldest() == nil)
        #expect(cache.isEmpty)
        #expect(cache.totalCost == 0)
    }

    /// Random adds, replaces, removes and evictions against a model: the running total always equals the sum of
    /// the costs held, and the recency order matches.
    @Test(arguments: [1, 2, 3])
    func totalCostMatchesARecomputedSum(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var cache = LRUCache<Int, Int>()
        var model: [(key: Int, cost: Int)] = []  // oldest first
        for _ in 0..<5_000 {
            let key = Int(random.next() % 64)
            switch random.next() % 4 {
            case 0, 1:
                let cost = Int(random.next() % 100)
                cache.setValue(cost, forKey: key, cost: cost)
                model.removeAll { $0.key == key }
                model.append((key, cost))
            case 2:
                cache.removeValue(forKey: key)
                model.removeAll { $0.key == key }
            default:
                let evicted = cache.removeOldest()
                #expect(evicted?.key == model.first?.key)
                if !model.isEmpty { model.removeFirst() }
            }
            #expect(cache.totalCost == model.map(\.cost).reduce(0, +))
        }
        #expect(cache.keysByRecency == model.reversed().map(\.key))
    }
}
