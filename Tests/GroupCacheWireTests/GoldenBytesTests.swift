import GroupCacheWire
import TestSupport
import Testing

/// Our encoding against Google's: every message here is also encoded by `protoc --encode` from text format, and
/// the two must be equal byte for byte; our decoder must then read protoc's bytes back to the same value.
@Suite(.serialized) struct GoldenBytesTests {
    /// A message, how protoc spells it, and how we encode and decode it.
    struct Golden: CustomTestStringConvertible, Sendable {
        var name: String
        var message: String
        var text: String
        var encode: @Sendable () -> [UInt8]
        var decodesBack: @Sendable ([UInt8]) throws -> Bool

        var testDescription: String { name }
    }

    static let oneMiB: [UInt8] = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
    static let awkwardKey: [UInt8] = [0x61, 0x00, 0xff, 0xfe, 0x80, 0xc3, 0x00]
    static let goExpiry: Int64 = 1_700_000_000_123_456_789

    static func lit(_ string: String) -> String { Protoc.literal(Array(string.utf8)) }

    static func get(_ name: String, _ request: GetRequest) -> Golden {
        Golden(
            name: name, message: "GetRequest",
            text: "group: \(Protoc.literal(request.group)) key: \(Protoc.literal(request.key))",
            encode: { request.encoded() }, decodesBack: { try GetRequest.decode(from: $0) == request })
    }

    static func reply(_ name: String, _ response: GetResponse) -> Golden {
        Golden(
            name: name, message: "GetResponse",
            text: "value: \(Protoc.literal(response.value)) expire: \(response.expire)",
            encode: { response.encoded() }, decodesBack: { try GetResponse.decode(from: $0) == response })
    }

    static func set(_ name: String, _ request: SetRequest) -> Golden {
        Golden(
            name: name, message: "SetRequest",
            text: "group: \(Protoc.literal(request.group)) key: \(Protoc.literal(request.key)) "
                + "value: \(Protoc.literal(request.value)) expire: \(request.expire)",
            encode: { request.encoded() }, decodesBack: { try SetRequest.decode(from: $0) == request })
    }

    static let goldens: [Golden] = [
        get("the compat file's GetRequest", GetRequest(group: Array("users".utf8), key: Array("12345".utf8))),
        get("empty group and key", GetRequest(group: [], key: [])),
        get("a key with NUL and invalid UTF-8", GetRequest(group: Array("g".utf8), key: awkwardKey)),
        reply("the compat file's GetResponse", GetResponse(value: Array("hello".utf8), expire: goExpiry)),
        reply("an empty value that never expires", GetResponse(value: [], expire: 0)),
        reply("a 1 MiB value", GetResponse(value: oneMiB, expire: goExpiry)),
        reply("a negative expiry", GetResponse(value: [0x00], expire: -1)),
        set("a SetRequest with a 1 MiB value", SetRequest(group: Array("things".utf8), key: awkwardKey, value: oneMiB, expire: goExpiry)),
        set("an empty SetRequest", SetRequest(group: [], key: [], value: [], expire: 0)),
        Golden(
            name: "RemoveRequest", message: "RemoveRequest", text: "group: \(lit("users")) key: \(Protoc.literal(awkwardKey))",
            encode: { RemoveRequest(group: Array("users".utf8), key: awkwardKey).encoded() },
            decodesBack: { try RemoveRequest.decode(from: $0) == RemoveRequest(group: Array("users".utf8), key: awkwardKey) }),
        Golden(
            name: "RemoveKeysRequest", message: "RemoveKeysRequest",
            text: "group: \(lit("g")) keys: \(lit("")) keys: \(Protoc.literal(awkwardKey)) keys: \(lit("ключ"))",
            encode: { RemoveKeysRequest(group: [0x67], keys: [[], awkwardKey, Array("ключ".utf8)]).encoded() },
            decodesBack: {
                try RemoveKeysRequest.decode(from: $0) == RemoveKeysRequest(group: [0x67], keys: [[], awkwardKey, Array("ключ".utf8)])
            }),
        Golden(
            name: "ErrorResponse", message: "ErrorResponse", text: "code: 2 message: \(lit("load timed out after 30 s: ключ"))",
            encode: { ErrorResponse(code: .loadFailed, message: "load timed out after 30 s: ключ").encoded() },
            decodesBack: {
                try ErrorResponse.decode(from: $0) == ErrorResponse(code: .loadFailed, message: "load timed out after 30 s: ключ")
            }),
        Golden(
            name: "ErrorResponse naming the peers that failed", message: "ErrorResponse",
            text: "code: 6 message: \(lit("owner failed")) failed_peers: \(lit("http://10.0.0.2:8080")) failed_peers: \(lit("ключ:1"))",
            encode: { failedPeersSample.encoded() },
            decodesBack: { try ErrorResponse.decode(from: $0) == failedPeersSample }),
        Golden(
            name: "StatsResponse", message: "StatsResponse",
            text: """
                groups { name: \(lit("users")) gets: 9 cache_hits: 8 peer_loads: 7 peer_errors: 6 loads: 5 \
                loads_deduped: 4 local_loads: 3 local_load_errs: 2 server_requests: 18446744073709551615 \
                main_cache { bytes: 1099511627776 items: 2 gets: 3 hits: 4 evictions: 5 } \
                hot_cache { items: 1 } } \
                groups { name: \(Protoc.literal([0x00, 0xff])) main_cache { } hot_cache { } }
                """,
            encode: { statsSample.encoded() },
            decodesBack: { try StatsResponse.decode(from: $0) == statsSample }),
        Golden(
            name: "StatsResponse with the node's counters", message: "StatsResponse",
            text: "node { "
                + StatsResponse.Node.fields.enumerated().map { "\($1.name): \(1000 + $0)" }.joined(separator: " ")
                + " }",
            encode: { nodeSample.encoded() },
            decodesBack: { try StatsResponse.decode(from: $0) == nodeSample }),
        Golden(
            name: "StatsResponse with peers", message: "StatsResponse",
            text: "peers { id: \(lit("http://10.0.0.2:8080")) down: true "
                + StatsResponse.Peer.fields.enumerated().map { "\($1.name): \(2000 + $0)" }.joined(separator: " ")
                + " } peers { id: \(lit("ключ:1")) }",
            encode: { peersSample.encoded() },
            decodesBack: { try StatsResponse.decode(from: $0) == peersSample }),
    ]

    static let failedPeersSample = ErrorResponse(code: .unavailable, message: "owner failed", failedPeers: ["http://10.0.0.2:8080", "ключ:1"])

    /// A down peer with every counter set, each to a different value, and an up peer with none.
    static let peersSample: StatsResponse = {
        var down = StatsResponse.Peer(id: "http://10.0.0.2:8080")
        down.isDown = true
        for (index, field) in StatsResponse.Peer.fields.enumerated() { down[keyPath: field.keyPath] = UInt64(2000 + index) }
        return StatsResponse(groups: [], peers: [down, StatsResponse.Peer(id: "ключ:1")])
    }()

    /// Every node counter set, each to a different value, so a field mapped to the wrong number fails.
    static let nodeSample: StatsResponse = {
        var node = StatsResponse.Node()
        for (index, field) in StatsResponse.Node.fields.enumerated() { node[keyPath: field.keyPath] = UInt64(1000 + index) }
        return StatsResponse(groups: [], node: node)
    }()

    static let statsSample: StatsResponse = {
        var users = StatsResponse.Group(name: Array("users".utf8))
        (users.gets, users.cacheHits, users.peerLoads, users.peerErrors, users.loads) = (9, 8, 7, 6, 5)
        (users.loadsDeduped, users.localLoads, users.localLoadErrs, users.serverRequests) = (4, 3, 2, .max)
        users.mainCache.bytes = 1 << 40
        (users.mainCache.items, users.mainCache.gets, users.mainCache.hits, users.mainCache.evictions) = (2, 3, 4, 5)
        users.hotCache.items = 1
        return StatsResponse(groups: [users, StatsResponse.Group(name: [0x00, 0xff])])
    }()

    @Test(arguments: goldens)
    func ourBytesAreProtocs(golden: Golden) async throws {
        let want = try await Protoc.encode(golden.message, golden.text)
        let got = golden.encode()
        #expect(got.count == want.count, "\(golden.name): got \(got.count) bytes; want \(want.count)")
        if let index = got.indices.first(where: { $0 < want.count && got[$0] != want[$0] }) {
            Issue.record("\(golden.name): first difference at byte \(index): got \(got[index...].prefix(16).hex); want \(want[index...].prefix(16).hex)")
        }
        #expect(try golden.decodesBack(want), "\(golden.name): protoc's bytes decode to another value")
    }

    @Test func theCompatVectorsAreProtocs() async throws {
        #expect(try await Protoc.encode("GetRequest", "group: \"users\" key: \"12345\"") == hexBytes("0a 05 75 73 65 72 73 12 05 31 32 33 34 35"))
        #expect(
            try await Protoc.encode("GetResponse", "value: \"hello\" expire: 1700000000123456789")
                == hexBytes("0a 05 68 65 6c 6c 6f 18 95 9a 97 ec e3 9f e7 cb 17"))
    }
}
