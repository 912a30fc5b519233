import Foundation
import GroupCache
import GroupCacheInMemory
import GroupCacheProtobuf
import SwiftProtobuf
import Testing

/// Typed values with swift-protobuf's own well-known types: a loader hands a message, callers get it back typed,
/// across the in-memory cluster too (the bytes cross as they would over TCP).
@Suite struct GroupProtobufTests {
    static func profile(_ id: String) -> Google_Protobuf_Struct {
        Google_Protobuf_Struct(fields: [
            "id": Google_Protobuf_Value(stringValue: id),
            "visits": Google_Protobuf_Value(numberValue: 42),
            "tags": Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: [
                Google_Protobuf_Value(stringValue: "é"), Google_Protobuf_Value(boolValue: true),
            ])),
        ])
    }

    @Test func aLoaderHandsAMessageAndCallersGetItTyped() async throws {
        let expiry = Date(timeIntervalSince1970: 4_000_000_000)
        let group = try GroupRegistry().makeGroup(name: "profiles", cacheBytes: 1 << 20) { key, _ in
            try CacheValue(message: Self.profile(key.description), expiresAt: expiry)
        }
        let got = try await group.get("user:7", as: Google_Protobuf_Struct.self)
        #expect(got == Self.profile("user:7"))
        let raw = try await group.get("user:7")
        #expect(try Google_Protobuf_Struct(serializedBytes: raw.bytes) == Self.profile("user:7"))
        #expect(raw.expiryNanoseconds == 4_000_000_000_000_000_000)
    }

    /// The value is the message's plain binary encoding, as a Go peer's proto.Unmarshal expects.
    @Test func theValueIsTheBinaryEncoding() throws {
        let stamp = Google_Protobuf_Timestamp(seconds: 1_700_000_000, nanos: 5)
        let value = try CacheValue(message: stamp)
        #expect(value.bytes == [0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10, 0x05])
        #expect(try value.message(as: Google_Protobuf_Timestamp.self) == stamp)
    }

    @Test func aTypedValueCrossesToAnotherNode() async throws {
        let network = InMemoryNetwork()
        let peers = (1...2).map { Peer(host: "10.0.0.\($0)", port: 8080, idFormat: .url) }
        let groups = try peers.map { peer in
            let ring = network.makePeerRing(local: peer)
            ring.setPeers(peers)
            let registry = GroupRegistry(peers: ring)
            network.attach(registry, as: peer.id)
            return try registry.makeGroup(name: "profiles", cacheBytes: 1 << 20) { key, _ in
                try CacheValue(message: Self.profile("\(key)@\(peer.id)"))
            }
        }
        let found = (0..<1_000).lazy.map { CacheKey("user:\($0)") }.first { peerOwning($0, peers) == peers[1].id }
        let key = try #require(found)
        let got = try await groups[0].get(key, as: Google_Protobuf_Struct.self)
        #expect(got == Self.profile("\(key)@\(peers[1].id)"), "loaded at the owner and decoded here")
        #expect(network.requests == 1)
    }

    @Test func aValueThatIsNotTheMessageThrows() async throws {
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20) { _, _ in CacheValue([0xff, 0xff, 0xff]) }
        await #expect(throws: (any Error).self) { try await group.get("k", as: Google_Protobuf_Struct.self) }
    }
}

/// The owner of `key` as every node's golang ring places it.
func peerOwning(_ key: CacheKey, _ peers: [Peer]) -> String {
    let ring = InMemoryNetwork().makePeerRing(local: peers[0])
    ring.setPeers(peers)
    return ring.ownerPeer(of: key).id
}
