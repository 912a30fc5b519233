@_spi(Transport) public import GroupCache
import Synchronization
import GroupCacheLock

/// A network of nodes in one process: each node's peer clients call the other nodes' groups directly.
///
/// Use it to test a cluster without sockets, or to run several nodes in one process. A node can be cut off
/// (its clients and the clients that reach it then fail as a refused connection would), and requests can be
/// counted.
///
/// The network holds its nodes' registries; their clients hold the network weakly (else network, registry,
/// group, ring and client would keep one another alive forever), so keep the network while its nodes work.
///
/// Concurrency: every method may be called from any task.
public final class InMemoryNetwork: Sendable {
    private struct Node {
        var registry: GroupRegistry?
        var reachable = true
    }

    private let nodes = Lock<[String: Node]>([:])
    private let requestCount = Atomic(0)

    /// Creates an empty network.
    public init() {}

    /// Returns a picker for the node `local`, which will reach every peer set on it through this network.
    public func makePeerRing(local: Peer, configuration: RingConfiguration = .golang) -> PeerRing {
        PeerRing(local: local, configuration: configuration) { [weak self] peer in
            InMemoryPeerClient(id: peer.id, network: self)
        }
    }

    /// Makes `registry` the node that answers requests to the peer ID `id`.
    public func attach(_ registry: GroupRegistry, as id: String) {
        nodes.withLock { $0[id, default: Node()].registry = registry }
    }

    /// Cuts `id` off, or reconnects it: while cut off, every request to it and from it fails.
    public func setReachable(_ reachable: Bool, _ id: String) {
        nodes.withLock { $0[id, default: Node()].reachable = reachable }
    }

    /// The number of requests that crossed the network.
    public var requests: Int { requestCount.load(ordering: .relaxed) }

    func group(named group: String, at id: String) throws -> Group {
        requestCount.wrappingAdd(1, ordering: .relaxed)
        let node = nodes.withLock { $0[id] }
        guard let node, node.reachable, let registry = node.registry else {
            throw GroupCacheError(.peerUnavailable, "peer \(id) is unreachable")
        }
        return try registry.requireGroup(named: group)
    }
}

/// A client that calls a node of an ``InMemoryNetwork`` directly.
struct InMemoryPeerClient: PeerClient {
    let id: String
    weak var network: InMemoryNetwork?

    func get(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        let group = try reach(group)
        do {
            if let value = group.serveCachedGet(key) { return value }
            return try await group.serveLoad(key, deadline: deadline)
        } catch let error as GroupCacheError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // What a wire transport would carry: the loader's failure as text.
            throw GroupCacheError(.loadFailed, "\(error)")
        }
    }

    func set(group: String, key: CacheKey, value: CacheValue, deadline: ContinuousClock.Instant) async throws {
        try reach(group).serveSet(key, value: value)
    }

    func remove(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws {
        try reach(group).serveRemove([key])
    }

    func removeKeys(group: String, keys: [CacheKey], deadline: ContinuousClock.Instant) async throws {
        try reach(group).serveRemove(keys)
    }

    /// The group `name` at this client's peer, through the network while it exists.
    private func reach(_ name: String) throws -> Group {
        guard let network else { throw GroupCacheError(.peerUnavailable, "peer \(id): the network is gone") }
        return try network.group(named: name, at: id)
    }
}
