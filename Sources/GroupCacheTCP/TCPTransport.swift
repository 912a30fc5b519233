public import GroupCache

/// Connects a node to its peers over TCP: makes the ``PeerRing`` whose clients reach each peer's ``TCPServer``.
///
/// ```swift
/// let secrets = try ClusterSecrets(contentsOfFile: "/etc/groupcache/secret")
/// let transport = TCPTransport(options: TCPClientOptions(secrets: secrets))
/// let me = Peer(host: "10.0.0.1", port: 8080, idFormat: .url)
/// let ring = transport.makePeerRing(local: me)
/// ring.setPeers(peers)                       // again whenever membership changes
/// let registry = GroupRegistry(peers: ring)
/// let server = TCPServer(registry: registry, options: TCPServerOptions(secrets: secrets))
/// try server.start(host: "0.0.0.0", port: 8080)
/// ```
///
/// A peer's ``Peer/address`` (`host:port`) is what is dialled; its ``Peer/id`` is what the ring hashes, so keep
/// IDs spelled as Go peers spell theirs when the cluster mixes the two.
///
/// Concurrency: every method may be called from any task.
public struct TCPTransport: Sendable {
    /// How clients connect.
    public let options: TCPClientOptions

    /// Creates a transport whose clients use `options`.
    public init(options: TCPClientOptions = TCPClientOptions()) {
        self.options = options
    }

    /// Returns a ring for the node `local` whose remote members are reached over TCP.
    ///
    /// A peer whose address is not `host:port` gets a client that fails every call with
    /// ``GroupCacheError/Code/badRequest``, counted as a peer error (the group then loads locally).
    public func makePeerRing(local: Peer, configuration: RingConfiguration = .golang) -> PeerRing {
        let options = self.options
        return PeerRing(local: local, configuration: configuration) { peer in
            do throws(GroupCacheError) {
                return try TCPPeerClient(peer: peer, options: options)
            } catch {
                return UnreachablePeerClient(id: peer.id, error: error)
            }
        }
    }
}

/// The client of a peer that cannot be dialled (its address is malformed): every call fails with the reason.
struct UnreachablePeerClient: PeerClient {
    let id: String
    let error: GroupCacheError

    func get(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue { throw error }
    func set(group: String, key: CacheKey, value: CacheValue, deadline: ContinuousClock.Instant) async throws { throw error }
    func remove(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws { throw error }
    func removeKeys(group: String, keys: [CacheKey], deadline: ContinuousClock.Instant) async throws { throw error }
}
