import GroupCache
import GroupCacheWire

// The one mapping between the engine and the wire, both ways: error codes, and stats.

extension ErrorCode {
    /// The wire code for an engine error a server answers with. The loader's verdicts keep their meaning, so
    /// the caller neither retries nor loads locally; failures of this node's own peers are UNAVAILABLE.
    init(_ code: GroupCacheError.Code) {
        self =
            switch code {
            case .notFound: .notFound
            case .noSuchGroup: .noSuchGroup
            case .badRequest: .badRequest
            case .tooLarge: .tooLarge
            case .unsupported: .unsupported
            case .peerUnavailable, .deadlineExceeded: .unavailable
            case .internalError, .duplicateGroup: .internalError
            default: .loadFailed
            }
    }
}

extension GroupCacheError.Code {
    /// The engine code for an ERROR a peer sent. NOT_FOUND and LOAD_FAILED keep their meaning; a code this
    /// side does not know is a protocol error, which the group answers with a local load.
    init(_ code: ErrorCode) {
        self =
            switch code {
            case .notFound: .notFound
            case .loadFailed: .loadFailed
            case .noSuchGroup: .noSuchGroup
            case .badRequest: .badRequest
            case .tooLarge: .tooLarge
            case .unavailable: .peerUnavailable
            case .internalError: .internalError
            case .unsupported: .unsupported
            default: .peerProtocol
            }
    }
}

/// Each group counter in the engine and on the wire; one table serves both directions.
private let groupCounters: [(
    engine: any WritableKeyPath<GroupStats, Int> & Sendable, wire: any WritableKeyPath<StatsResponse.Group, UInt64> & Sendable
)] = [
    (\.gets, \.gets), (\.cacheHits, \.cacheHits), (\.peerLoads, \.peerLoads), (\.peerErrors, \.peerErrors),
    (\.loads, \.loads), (\.loadsDeduped, \.loadsDeduped), (\.localLoads, \.localLoads),
    (\.localLoadErrs, \.localLoadErrs), (\.serverRequests, \.serverRequests),
    (\.removesPending, \.removesPending), (\.removesRetried, \.removesRetried), (\.removesDropped, \.removesDropped),
]

/// Each cache counter in the engine and on the wire.
private let cacheCounters: [(
    engine: any WritableKeyPath<CacheStats, Int> & Sendable, wire: any WritableKeyPath<StatsResponse.Cache, UInt64> & Sendable
)] = [(\.bytes, \.bytes), (\.items, \.items), (\.gets, \.gets), (\.hits, \.hits), (\.evictions, \.evictions)]

extension StatsResponse.Group {
    /// The wire form of a group's stats.
    init(_ group: Group) {
        let stats = group.stats
        self.init(name: Array(group.name.utf8))
        for counter in groupCounters { self[keyPath: counter.wire] = UInt64(stats[keyPath: counter.engine]) }
        mainCache = StatsResponse.Cache(stats.mainCache)
        hotCache = StatsResponse.Cache(stats.hotCache)
    }
}

extension StatsResponse.Cache {
    /// The wire form of a cache's stats.
    init(_ stats: CacheStats) {
        self.init()
        for counter in cacheCounters { self[keyPath: counter.wire] = UInt64(stats[keyPath: counter.engine]) }
    }
}

extension GroupStats {
    /// The engine's form of a group's stats from the wire.
    init(_ group: StatsResponse.Group) {
        self.init()
        for counter in groupCounters { self[keyPath: counter.engine] = Int(clamping: group[keyPath: counter.wire]) }
        mainCache = CacheStats(group.mainCache)
        hotCache = CacheStats(group.hotCache)
    }
}

extension CacheStats {
    /// The engine's form of a cache's stats from the wire.
    init(_ cache: StatsResponse.Cache) {
        self.init()
        for counter in cacheCounters { self[keyPath: counter.engine] = Int(clamping: cache[keyPath: counter.wire]) }
    }
}
