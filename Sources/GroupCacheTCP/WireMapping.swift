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

extension StatsResponse.Group {
    /// The wire form of a group's stats.
    init(_ group: Group) {
        let stats = group.stats
        self.init(name: Array(group.name.utf8))
        gets = UInt64(stats.gets)
        cacheHits = UInt64(stats.cacheHits)
        peerLoads = UInt64(stats.peerLoads)
        peerErrors = UInt64(stats.peerErrors)
        loads = UInt64(stats.loads)
        loadsDeduped = UInt64(stats.loadsDeduped)
        localLoads = UInt64(stats.localLoads)
        localLoadErrs = UInt64(stats.localLoadErrs)
        serverRequests = UInt64(stats.serverRequests)
        mainCache = StatsResponse.Cache(stats.mainCache)
        hotCache = StatsResponse.Cache(stats.hotCache)
    }
}

extension StatsResponse.Cache {
    /// The wire form of a cache's stats.
    init(_ stats: CacheStats) {
        self.init()
        bytes = UInt64(stats.bytes)
        items = UInt64(stats.items)
        gets = UInt64(stats.gets)
        hits = UInt64(stats.hits)
        evictions = UInt64(stats.evictions)
    }
}

extension GroupStats {
    /// The engine's form of a group's stats from the wire.
    init(_ group: StatsResponse.Group) {
        self.init()
        gets = Int(clamping: group.gets)
        cacheHits = Int(clamping: group.cacheHits)
        peerLoads = Int(clamping: group.peerLoads)
        peerErrors = Int(clamping: group.peerErrors)
        loads = Int(clamping: group.loads)
        loadsDeduped = Int(clamping: group.loadsDeduped)
        localLoads = Int(clamping: group.localLoads)
        localLoadErrs = Int(clamping: group.localLoadErrs)
        serverRequests = Int(clamping: group.serverRequests)
        mainCache = CacheStats(group.mainCache)
        hotCache = CacheStats(group.hotCache)
    }
}

extension CacheStats {
    /// The engine's form of a cache's stats from the wire.
    init(_ cache: StatsResponse.Cache) {
        self.init()
        bytes = Int(clamping: cache.bytes)
        items = Int(clamping: cache.items)
        gets = Int(clamping: cache.gets)
        hits = Int(clamping: cache.hits)
        evictions = Int(clamping: cache.evictions)
    }
}
