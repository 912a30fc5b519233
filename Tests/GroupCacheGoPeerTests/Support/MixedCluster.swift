import Foundation
import GroupCache
import GroupCacheAuth
import TestSupport

/// Two Swift nodes (in this process, real sockets) and two Go peers (processes), all with golang's crc32 ring
/// and the same `http://host:port` peer IDs, authenticated with one cluster secret (``secretFile``).
struct MixedCluster {
    let swift: [SwiftNode]
    let go: [GoPeer]

    var ids: [String] { swift.map(\.id) + go.map(\.id) }

    /// Starts a cluster, runs `body` with it, and stops the Swift nodes whatever `body` does (the Go peers stop
    /// when their last reference goes).
    static func run(goArguments: [String] = [], _ body: (MixedCluster) async throws -> Void) async throws {
        let cluster = try await start(goArguments: goArguments)
        do {
            try await body(cluster)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    /// The file of the secret the cluster shares.
    static let secretFile = try! temporarySecretFile()
    static let secrets = try! ClusterSecrets(contentsOfFile: secretFile)

    static func start(goArguments: [String] = []) async throws -> MixedCluster {
        let go = try await offThePool {
            try (0..<2).map { _ in try GoPeer(arguments: ["-secret-file", secretFile] + goArguments) }
        }
        let swift = try (0..<2).map { _ in try SwiftNode(secrets: secrets) }
        let addresses = swift.map(\.address) + go.map(\.address)
        for node in swift { node.ring.setPeers(addresses.map { Peer(address: $0, idFormat: .url) }) }
        for peer in go { try await peer.setPeers(addresses) }
        return MixedCluster(swift: swift, go: go)
    }

    func stop() async {
        for node in swift { await node.shutdown() }
    }

    /// The owner of `key`, as the first Swift node's ring places it.
    func owner(of key: String) -> String { swift[0].ring.ownerPeer(of: CacheKey(key)).id }

    /// `count` keys with `prefix` that the peer with ID `owner` owns.
    func keys(_ count: Int, ownedBy owner: String, prefix: String) -> [String] {
        Array((0...).lazy.map { "\(prefix)\($0)" }.filter { self.owner(of: $0) == owner }.prefix(count))
    }

    /// Every node's loads, Swift then Go.
    func loads() async throws -> [Int] {
        var loads = swift.map(\.loads)
        for peer in go { loads.append(try await peer.loads()) }
        return loads
    }
}
