import Foundation
import GroupCache
import GroupCacheProtobuf
import GroupCacheTCP
import GroupCacheAuth
import TestSupport

/// A swift-groupcache node in this process, behind a real TCP server, with golang's ring and peer IDs and the
/// same loader as the Go peer's: "user:<id>" gives a User (made by "swift"), "ttl:..." a value that expires at
/// ``SwiftNode/expiry``, "missing:..." not found, "fail:..." a failed load, any other key "<key>@<this node's ID>".
/// It serves "things" and "swift-only", a group the Go peers do not have.
final class SwiftNode: Sendable {
    /// The expiry of "ttl:" values, in Unix nanoseconds: beyond what a Double holds exactly.
    static let expiry: Int64 = 4_102_444_800_123_456_789

    let server: TCPServer
    let ring: PeerRing
    let registry: GroupRegistry
    let things: Group
    let swiftOnly: Group
    let peer: Peer
    let clock: ManualWallClock
    private let loadCount = Counter()

    var address: String { peer.address }
    var id: String { peer.id }
    var loads: Int { loadCount.value }

    /// A node that requires `secrets` of its peers and connects with them; none with `nil`.
    init(secrets: ClusterSecrets?) throws {
        let picker = DeferredPeerPicker()
        clock = ManualWallClock()
        registry = GroupRegistry(peers: picker, clock: clock)
        server = TCPServer(registry: registry, options: TCPServerOptions(secrets: secrets))
        let port = try server.start()
        peer = Peer(host: "127.0.0.1", port: port, idFormat: .url)
        ring = TCPTransport(options: TCPClientOptions(secrets: secrets)).makePeerRing(local: peer, configuration: .golang)
        picker.setPicker(ring)
        let loader = Self.loader(id: peer.id, counter: loadCount)
        things = try registry.makeGroup(name: "things", cacheBytes: 8 << 20, loader: loader)
        swiftOnly = try registry.makeGroup(name: "swift-only", cacheBytes: 8 << 20, loader: loader)
    }

    private static func loader(id: String, counter: Counter) -> Loader {
        { key, _ in
            counter.increment()
            let text = key.description
            if text.hasPrefix("missing:") { throw GroupCacheError.notFound(key) }
            if text.hasPrefix("fail:") { throw LoaderFailure(key: text) }
            if text.hasPrefix("user:") {
                return try CacheValue(message: sampleUser(String(text.dropFirst("user:".count)), madeBy: "swift"))
            }
            if text.hasPrefix("ttl:") { return CacheValue(Array("\(key)@\(id)".utf8), expiryNanoseconds: expiry) }
            return CacheValue("\(key)@\(id)")
        }
    }

    func shutdown() async { await server.shutdown() }
}

struct LoaderFailure: Error, CustomStringConvertible {
    let key: String
    var description: String { "the backend refused \(key)" }
}
