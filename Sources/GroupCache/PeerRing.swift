import GroupCacheRing
import GroupCacheLock

/// A ``PeerPicker`` over a consistent-hash ring, for any transport: it places peers as the configured Go flavour
/// does and hands out one client per remote peer, made by the transport.
///
/// ``setPeers(_:)`` swaps the whole ring at once: a lookup sees the old ring or the new one, never a mix.
/// Clients of peers that stay are kept, so their connections survive a change of membership.
///
/// Concurrency: every method may be called from any task.
public final class PeerRing: PeerPicker {
    /// This node.
    public let local: Peer
    /// How keys are placed.
    public let configuration: RingConfiguration

    private let makeClient: @Sendable (Peer) -> any PeerClient
    private let membership: Lock<Membership>

    /// An immutable view of the cluster: lookups take it under the lock and search it outside.
    private final class Membership: Sendable {
        let peers: [Peer]
        let ring: HashRing
        /// One per ring member; `nil` for this node.
        let clients: [(any PeerClient)?]
        let remote: [any PeerClient]

        init(peers: [Peer], ring: HashRing, clients: [(any PeerClient)?]) {
            self.peers = peers
            self.ring = ring
            self.clients = clients
            self.remote = clients.compactMap { $0 }
        }
    }

    /// Creates a ring that holds only `local` until ``setPeers(_:)`` is called.
    ///
    /// - Parameters:
    ///   - local: This node, as the other nodes know it.
    ///   - configuration: The ring flavour, points per peer and ID format.
    ///   - makeClient: Makes the transport's client for a remote peer.
    public init(
        local: Peer,
        configuration: RingConfiguration = .golang,
        makeClient: @escaping @Sendable (Peer) -> any PeerClient
    ) {
        self.local = local
        self.configuration = configuration
        self.makeClient = makeClient
        let ring = HashRing(flavor: configuration.flavor, replicas: configuration.replicas, members: [local.id])
        self.membership = Lock(Membership(peers: [local], ring: ring, clients: [nil]))
    }

    /// Replaces the cluster's members with `peers`, in the order given; this node is added if missing.
    ///
    /// The order matters only where two peers' points coincide on the ring (the later one wins, as in Go), so
    /// give every node the same list.
    public func setPeers(_ peers: [Peer]) {
        var members: [Peer] = []
        var seen: Set<String> = []
        for peer in peers where seen.insert(peer.id).inserted { members.append(peer) }
        if !seen.contains(local.id) { members.append(local) }

        membership.withLock { membership in
            var existing: [String: any PeerClient] = [:]
            for client in membership.remote { existing[client.id] = client }
            let clients = members.map { peer -> (any PeerClient)? in
                peer.id == local.id ? nil : existing[peer.id] ?? makeClient(peer)
            }
            let ring = HashRing(flavor: configuration.flavor, replicas: configuration.replicas, members: members.map(\.id))
            membership = Membership(peers: members, ring: ring, clients: clients)
        }
    }

    /// The current members, this node included.
    public var peers: [Peer] { membership.withLock { $0.peers } }

    /// Returns the member that owns `key`.
    public func ownerPeer(of key: CacheKey) -> Peer {
        let membership = self.membership.withLock { $0 }
        let index = key.withUnsafeBytes { membership.ring.ownerIndex(of: $0) } ?? 0
        return membership.peers[index]
    }

    /// Returns the client of the peer that owns `key`, or `nil` when this node owns it.
    public func owner(of key: CacheKey) -> (any PeerClient)? {
        let membership = self.membership.withLock { $0 }
        guard let index = key.withUnsafeBytes({ membership.ring.ownerIndex(of: $0) }) else { return nil }
        return membership.clients[index]
    }

    /// Returns the clients of every peer except this node.
    public func remotePeers() -> [any PeerClient] {
        membership.withLock { $0.remote }
    }
}
