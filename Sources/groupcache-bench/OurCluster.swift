import Foundation
import GroupCache
import GroupCacheAuth
import GroupCacheTCP
import Synchronization

/// swift-groupcache as a service embeds it: a node in this process (the caller, group "bench") and
/// `groupcache-node` processes as its peers, all on loopback with the golang ring. Every loader makes
/// `<key>@<node ID>` padded to `valueBytes`, after `loadDelayMs`. With `secretFile`, every node requires and
/// presents its cluster secret, so every frame carries a tag.
final class OurCluster {
    let server: TCPServer
    let ring: PeerRing
    let group: Group
    let local: Peer
    let nodes: [Child]
    let clients: [TCPNodeClient]
    let remotes: [Peer]
    private let localLoads: LoadCounter

    init(
        settings: Settings, processes: Int, valueBytes: Int, loadDelayMs: Int = 0, hotCache: Bool,
        cacheBytes: Int = 64 << 20, label: String, secretFile: String? = nil
    ) throws {
        let secrets = try secretFile.map { try ClusterSecrets(contentsOfFile: $0) }
        var nodes: [Child] = []
        var ports: [Int] = []
        for index in 0..<processes {
            let node = try Child(
                name: "groupcache-node", executable: settings.nodeBinary,
                arguments: [
                    "--listen", "127.0.0.1:0", "--loader", "synthetic", "--value-bytes", "\(valueBytes)",
                    "--load-delay-ms", "\(loadDelayMs)", "--group", "bench", "--cache-bytes", "\(cacheBytes)",
                ] + (secretFile.map { ["--secret-file", $0] } ?? []),
                log: settings.logs.appendingPathComponent("\(label)-node\(index).log"),
            cpus: settings.placement.serverCPUs)
            ports.append(try node.listeningPort())
            nodes.append(node)
        }
        let picker = DeferredPeerPicker()
        let registry = GroupRegistry(peers: picker)
        server = TCPServer(registry: registry, options: TCPServerOptions(secrets: secrets))
        let port = try server.start()
        local = Peer(host: "127.0.0.1", port: port, idFormat: .url)
        remotes = ports.map { Peer(host: "127.0.0.1", port: $0, idFormat: .url) }
        ring = TCPTransport(options: TCPClientOptions(secrets: secrets)).makePeerRing(local: local, configuration: .golang)
        picker.setPicker(ring)
        ring.setPeers([local] + remotes)
        let addresses = ([local] + remotes).map(\.address).joined(separator: ",")
        for node in nodes {
            let answer = try node.ask("peers \(addresses)")
            guard answer.hasPrefix("peers ") else { throw Child.Failure(description: "a node answered \(answer)") }
        }
        let loads = LoadCounter()
        localLoads = loads
        let id = local.id
        group = try registry.makeGroup(name: "bench", cacheBytes: cacheBytes, options: GroupOptions(hotCache: hotCache)) { key, _ in
            loads.increment()
            if loadDelayMs > 0 { try await Task.sleep(for: .milliseconds(loadDelayMs)) }
            return CacheValue(synthetic("\(key)@\(id)", bytes: valueBytes))
        }
        self.nodes = nodes
        clients = try remotes.map { try TCPNodeClient(address: $0.address, options: TCPClientOptions(secrets: secrets)) }
    }

    /// `count` keys starting with `prefix` that `owner` owns.
    func keys(_ count: Int, ownedBy owner: Peer, prefix: String) -> [CacheKey] {
        Array((0...).lazy.map { CacheKey("\(prefix)\($0)") }.filter { self.ring.ownerPeer(of: $0) == owner }.prefix(count))
    }

    /// Loads so far in the whole cluster: this node's loader runs and every node process's local loads.
    func loads() async throws -> Int {
        var total = localLoads.value
        for client in clients { total += try await client.stats()["bench"]?.localLoads ?? 0 }
        return total
    }

    /// Runs `body`, then stops the cluster, whether `body` returns or throws.
    func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    func stop() async {
        await server.shutdown()
        for node in nodes { node.stop() }
    }
}

/// A count that loaders on any thread share.
final class LoadCounter: Sendable {
    private let count = Atomic(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// `text` padded with dots or cut to `bytes` bytes, as groupcache-node's synthetic loader makes values.
func synthetic(_ text: String, bytes: Int) -> [UInt8] {
    let value = Array(text.utf8)
    return Array(value.prefix(bytes)) + [UInt8](repeating: UInt8(ascii: "."), count: max(0, bytes - value.count))
}
