/// A least-recently-used map that keeps a running total of each entry's cost.
///
/// The cache never evicts on its own: the owner decides when the total is too high and calls
/// ``removeOldest()``. That keeps the budget policy (one budget shared by several caches, say) with the owner.
///
/// Entries live in one contiguous array linked by indices, so a hit moves no memory and allocates nothing, and
/// a removed entry's slot is reused by the next insert.
///
/// Concurrency: a value type with no locking; the owner serialises access.
public struct LRUCache<Key: Hashable, Value> {
    // The hot methods are @inlinable so that callers in other modules get them specialised for their key and
    // value types; unspecialised, a hit cost several times as much.
    @usableFromInline
    struct Node {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
        @usableFromInline var cost: Int
        @usableFromInline var newer: Int32
        @usableFromInline var older: Int32

        @inlinable
        init(key: Key, value: Value, cost: Int, newer: Int32, older: Int32) {
            (self.key, self.value, self.cost, self.newer, self.older) = (key, value, cost, newer, older)
        }
    }

    @inlinable static var none: Int32 { -1 }

    @usableFromInline var index: [Key: Int32] = [:]
    @usableFromInline var nodes: [Node?] = []
    @usableFromInline var free: [Int32] = []
    @usableFromInline var newest: Int32 = -1
    @usableFromInline var oldest: Int32 = -1

    @usableFromInline var costSum = 0

    /// The sum of the costs of all entries.
    @inlinable public var totalCost: Int { costSum }

    /// Creates an empty cache.
    @inlinable public init() {}

    /// The number of entries.
    @inlinable
    public var count: Int { index.count }

    /// Whether the cache has no entries.
    @inlinable
    public var isEmpty: Bool { index.isEmpty }

    /// Returns the value for `key` and marks it as the most recently used, or `nil` if it is absent.
    @inlinable
    public mutating func value(forKey key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        moveToFront(slot)
        return nodes[Int(slot)]!.value
    }

    /// Returns the value for `key` without changing its recency.
    @inlinable
    public func peek(_ key: Key) -> Value? {
        guard let slot = index[key] else { return nil }
        return nodes[Int(slot)]!.value
    }

    /// Inserts or replaces the entry for `key` as the most recently used, and returns the replaced value.
    ///
    /// Replacing an entry releases its old cost before the new one is counted.
    @inlinable
    @discardableResult
    public mutating func setValue(_ value: Value, forKey key: Key, cost: Int) -> Value? {
        precondition(cost >= 0, "an entry's cost cannot be negative")
        if let slot = index[key] {
            let old = nodes[Int(slot)]!.value
            costSum += cost - nodes[Int(slot)]!.cost
            nodes[Int(slot)]!.value = value
            nodes[Int(slot)]!.cost = cost
            moveToFront(slot)
            return old
        }
        let node = Node(key: key, value: value, cost: cost, newer: Self.none, older: newest)
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            nodes[Int(slot)] = node
        } else {
            slot = Int32(nodes.count)
            nodes.append(node)
        }
        if newest != Self.none { nodes[Int(newest)]!.newer = slot }
        newest = slot
        if oldest == Self.none { oldest = slot }
        index[key] = slot
        costSum += cost
        return nil
    }

    /// Removes the entry for `key` and returns its value, or `nil` if it was absent.
    @inlinable
    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? {
        guard let slot = index.removeValue(forKey: key) else { return nil }
        return release(slot).value
    }

    /// Removes the least recently used entry and returns it, or `nil` if the cache is empty.
    @inlinable
    @discardableResult
    public mutating func removeOldest() -> (key: Key, value: Value, cost: Int)? {
        guard oldest != Self.none else { return nil }
        let slot = oldest
        index.removeValue(forKey: nodes[Int(slot)]!.key)
        let node = release(slot)
        return (node.key, node.value, node.cost)
    }

    /// The keys from the most to the least recently used (for tests).
    var keysByRecency: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(count)
        var slot = newest
        while slot != Self.none {
            let node = nodes[Int(slot)]!
            keys.append(node.key)
            slot = node.older
        }
        return keys
    }

    @inlinable
    mutating func release(_ slot: Int32) -> Node {
        unlink(slot)
        let node = nodes[Int(slot)]!
        nodes[Int(slot)] = nil
        free.append(slot)
        costSum -= node.cost
        return node
    }

    @inlinable
    mutating func unlink(_ slot: Int32) {
        let node = nodes[Int(slot)]!
        if node.newer != Self.none { nodes[Int(node.newer)]!.older = node.older } else { newest = node.older }
        if node.older != Self.none { nodes[Int(node.older)]!.newer = node.newer } else { oldest = node.newer }
    }

    @inlinable
    mutating func moveToFront(_ slot: Int32) {
        guard slot != newest else { return }
        unlink(slot)
        nodes[Int(slot)]!.older = newest
        nodes[Int(slot)]!.newer = Self.none
        if newest != Self.none { nodes[Int(newest)]!.newer = slot }
        newest = slot
        if oldest == Self.none { oldest = slot }
    }
}

extension LRUCache: Sendable where Key: Sendable, Value: Sendable {}
extension LRUCache.Node: Sendable where Key: Sendable, Value: Sendable {}
