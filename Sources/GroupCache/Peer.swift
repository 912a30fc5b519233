public import GroupCacheRing

/// A member of the cluster: the ID that the hash ring places, and the address a transport dials.
///
/// Every node must place byte-identical IDs, its own included, or they disagree about owners. By default the
/// ID is derived from the address in the format of the Go flavour the cluster follows.
public struct Peer: Hashable, Sendable, CustomStringConvertible {
    /// What the hash ring hashes, such as `http://10.0.0.1:8080` (golang, Mailgun v2) or `10.0.0.1:8080` (v3).
    public var id: String
    /// What a transport dials: `host:port`, with an IPv6 host in brackets.
    public var address: String

    /// Creates a peer with an explicit ID.
    public init(id: String, address: String) {
        self.id = id
        self.address = address
    }

    /// Creates a peer at `host` and `port` whose ID is formatted as `format` prescribes.
    public init(host: String, port: Int, idFormat format: PeerIDFormat) {
        let host = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.init(address: "\(host):\(port)", idFormat: format)
    }

    /// Creates a peer at `address` (`host:port`, IPv6 bracketed) whose ID is formatted as `format` prescribes.
    public init(address: String, idFormat format: PeerIDFormat) {
        self.init(id: format.id(forAddress: address), address: address)
    }

    /// The ID, and the address when it differs.
    public var description: String { id == address ? id : "\(id) (\(address))" }
}

/// How a peer's ring ID is spelled, which must match the Go flavour of the cluster.
public enum PeerIDFormat: String, Sendable, CaseIterable {
    /// `http://HOST:PORT`, as golang/groupcache and Mailgun v2 peers spell their base URLs.
    case url
    /// `HOST:PORT`, as groupcache-go v3 peers do.
    case hostPort

    /// Returns the ID of the peer at `address` (`host:port`, IPv6 bracketed).
    public func id(forAddress address: String) -> String {
        switch self {
        case .url: "http://" + address
        case .hostPort: address
        }
    }
}

/// How the cluster places keys: the hash ring's flavour, its points per peer, and the peer ID format.
/// Every node of a cluster, Swift or Go, must use the same.
public struct RingConfiguration: Hashable, Sendable {
    /// The hash function of the ring.
    public var flavor: HashRing.Flavor
    /// Points per peer.
    public var replicas: Int
    /// How peer IDs are spelled.
    public var idFormat: PeerIDFormat

    /// Creates a configuration.
    public init(flavor: HashRing.Flavor, replicas: Int = HashRing.defaultReplicas, idFormat: PeerIDFormat) {
        self.flavor = flavor
        self.replicas = replicas
        self.idFormat = idFormat
    }

    /// golang/groupcache: crc32, 50 points, `http://host:port` IDs. The default: it spreads keys that differ only
    /// in their last bytes, which FNV-1 clusters on few peers.
    public static let golang = RingConfiguration(flavor: .crc32, idFormat: .url)
    /// mailgun/groupcache v2: FNV-1 of md5 hex, 50 points, `http://host:port` IDs.
    public static let mailgunV2 = RingConfiguration(flavor: .fnv1, idFormat: .url)
    /// groupcache-go v3: FNV-1 of md5 hex, 50 points, `host:port` IDs.
    public static let groupcacheV3 = RingConfiguration(flavor: .fnv1, idFormat: .hostPort)

    /// The configurations by the names the executables take (`--ring golang|mailgun|v3`).
    public static let named: [(name: String, configuration: RingConfiguration)] = [
        ("golang", .golang), ("mailgun", .mailgunV2), ("v3", .groupcacheV3),
    ]

    /// The configuration named `name` (`golang`, `mailgun` or `v3`), or `nil`.
    public init?(name: String) {
        guard let match = Self.named.first(where: { $0.name == name }) else { return nil }
        self = match.configuration
    }
}
