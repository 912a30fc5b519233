import GroupCacheLock

/// The groups of one node, and what they share: the peer picker and the clock.
///
/// There is no process-wide registry: make one per node and hand it to the transport that serves peers, so
/// several nodes can live in one process (as in tests).
///
/// Concurrency: every method may be called from any task.
public final class GroupRegistry: Sendable {
    /// How this node's groups find key owners; `nil` for a node without peers.
    public let peers: (any PeerPicker)?
    /// The wall clock that expiry is checked against.
    public let clock: any WallClock

    private let groups = Lock<[String: Group]>([:])

    /// Creates an empty registry.
    ///
    /// - Parameters:
    ///   - peers: How groups find key owners; `nil` makes every key local.
    ///   - clock: The wall clock for expiry; inject a fake one in tests.
    public init(peers: (any PeerPicker)? = nil, clock: any WallClock = SystemWallClock()) {
        self.peers = peers
        self.clock = clock
    }

    /// Creates and registers a group.
    ///
    /// - Parameters:
    ///   - name: The group's name, the same on every node.
    ///   - cacheBytes: The byte budget of its main and hot caches together; 0 caches nothing.
    ///   - options: Hot cache and default timeout.
    ///   - loader: Produces a value on a miss at the key's owner.
    /// - Throws: ``GroupCacheError/Code/duplicateGroup`` if a group of that name exists.
    @discardableResult
    public func makeGroup(
        name: String, cacheBytes: Int, options: GroupOptions = GroupOptions(), loader: @escaping Loader
    ) throws -> Group {
        let group = Group(name: name, cacheBytes: cacheBytes, options: options, peers: peers, clock: clock, loader: loader)
        try groups.withLock { groups in
            guard groups[name] == nil else {
                throw GroupCacheError(.duplicateGroup, "a group named \(name) already exists")
            }
            groups[name] = group
        }
        return group
    }

    /// Returns the group named `name`, or `nil`.
    public func group(named name: String) -> Group? {
        // The lock only hands out the table (a retain); the lookup, which hashes the name, runs outside it, so
        // that a node's connection threads do not queue on it for every request.
        groups.withLock { $0 }[name]
    }

    /// Returns the group named `name`.
    ///
    /// - Throws: ``GroupCacheError/Code/noSuchGroup``.
    public func requireGroup(named name: String) throws -> Group {
        guard let group = group(named: name) else {
            throw GroupCacheError(.noSuchGroup, "no group named \(name)")
        }
        return group
    }

    /// Every registered group, by name.
    public var allGroups: [Group] {
        groups.withLock { $0.values.sorted { $0.name < $1.name } }
    }
}
