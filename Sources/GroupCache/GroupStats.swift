import Synchronization

/// A snapshot of a group's counters, with Go groupcache's names.
public struct GroupStats: Hashable, Sendable {
    /// Gets from callers on this node and from peers.
    public var gets = 0
    /// Gets answered from the main or hot cache.
    public var cacheHits = 0
    /// Values fetched from their owner.
    public var peerLoads = 0
    /// Peer fetches that failed and were replaced by a local load.
    public var peerErrors = 0
    /// Gets that missed both caches and asked for a load.
    public var loads = 0
    /// Loads after single-flight merged concurrent ones: one per flight.
    public var loadsDeduped = 0
    /// Successful runs of the loader.
    public var localLoads = 0
    /// Failed runs of the loader.
    public var localLoadErrs = 0
    /// Requests that came from peers.
    public var serverRequests = 0
    /// Removes waiting to be sent again to peers they could not reach (see ``GroupOptions/maxPendingRemoves``).
    public var removesPending = 0
    /// Queued removes a peer took on a retry.
    public var removesRetried = 0
    /// Removes dropped because the queue was full.
    public var removesDropped = 0
    /// The main cache: values this node owns.
    public var mainCache = CacheStats()
    /// The hot cache: copies of values other nodes own.
    public var hotCache = CacheStats()

    /// Creates zeroed stats.
    public init() {}
}

/// A snapshot of one cache's counters, with Go groupcache's names.
public struct CacheStats: Hashable, Sendable {
    /// What an entry costs besides its key and value bytes: the memory that holding it takes (two arrays, an LRU
    /// node, a dictionary slot), measured at 162-163 bytes resident per entry of a 3-byte key and a 1-byte value
    /// on Linux x86-64 (Benchmarks/Sources/CacheMemoryBenchmark). Counted so that a budget holds: a million tiny
    /// entries would otherwise take 40 times the bytes the cache reports.
    public static let entryOverheadBytes = 160

    /// Bytes held: the sum of every entry's key and value bytes plus ``entryOverheadBytes`` each, the figure
    /// the budget applies to.
    public var bytes = 0
    /// Entries held.
    public var items = 0
    /// Lookups.
    public var gets = 0
    /// Lookups that found a live entry.
    public var hits = 0
    /// Entries dropped to stay within the budget, or found expired.
    public var evictions = 0

    /// Creates zeroed stats.
    public init() {}
}

/// The group's counters that change outside the cache lock.
final class GroupCounters: Sendable {
    let peerLoads = Atomic(0)
    let peerErrors = Atomic(0)
    let loads = Atomic(0)
    let loadsDeduped = Atomic(0)
    let localLoads = Atomic(0)
    let localLoadErrs = Atomic(0)
    let serverRequests = Atomic(0)

    func snapshot() -> GroupStats {
        var stats = GroupStats()
        stats.peerLoads = peerLoads.load(ordering: .relaxed)
        stats.peerErrors = peerErrors.load(ordering: .relaxed)
        stats.loads = loads.load(ordering: .relaxed)
        stats.loadsDeduped = loadsDeduped.load(ordering: .relaxed)
        stats.localLoads = localLoads.load(ordering: .relaxed)
        stats.localLoadErrs = localLoadErrs.load(ordering: .relaxed)
        stats.serverRequests = serverRequests.load(ordering: .relaxed)
        return stats
    }
}

extension Atomic<Int> {
    func increment() {
        wrappingAdd(1, ordering: .relaxed)
    }
}
