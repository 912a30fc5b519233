@testable import GroupCacheWire
import TestSupport
import Testing

@Suite struct ProtobufCodecTests {
    // MARK: Go's bytes

    @Test func getRequestMatchesGo() throws {
        let request = GetRequest(group: Array("users".utf8), key: Array("12345".utf8))
        let want = hexBytes("0a 05 75 73 65 72 73 12 05 31 32 33 34 35")
        let got = request.encoded()
        #expect(got == want, "got \(got.hex); want \(want.hex)")
        #expect(try GetRequest.decode(from: want) == request)
    }

    @Test func getResponseMatchesGo() throws {
        let response = GetResponse(value: Array("hello".utf8), expire: 1_700_000_000_123_456_789)
        let want = hexBytes("0a 05 68 65 6c 6c 6f 18 95 9a 97 ec e3 9f e7 cb 17")
        let got = response.encoded()
        #expect(got == want, "got \(got.hex); want \(want.hex)")
        #expect(try GetResponse.decode(from: want) == response)
    }

    @Test func removeRequestIsGoGetRequest() throws {
        let group = Array("users".utf8), key = Array("12345".utf8)
        let remove = RemoveRequest(group: group, key: key).encoded()
        let get = GetRequest(group: group, key: key).encoded()
        #expect(remove == get, "got \(remove.hex); want \(get.hex)")
        #expect(try RemoveRequest.decode(from: get) == RemoveRequest(group: group, key: key))
    }

    @Test func expiryIsAlwaysWritten() {
        let cases: [(got: [UInt8], want: String)] = [
            (GetResponse(value: []).encoded(), "0a 00 18 00"),
            (GetResponse(value: [0x61], expire: 0).encoded(), "0a 01 61 18 00"),
            (SetRequest(group: [0x67], key: [0x6b], value: []).encoded(), "0a 01 67 12 01 6b 1a 00 20 00"),
        ]
        for (got, want) in cases {
            #expect(got == hexBytes(want), "got \(got.hex); want \(want)")
        }
    }

    @Test func absentOptionalFieldsReadAsZero() throws {
        #expect(try GetResponse.decode(from: []) == GetResponse(value: [], expire: 0))
        let set = try SetRequest.decode(from: hexBytes("0a 01 67 12 01 6b"))
        #expect(set == SetRequest(group: [0x67], key: [0x6b], value: [], expire: 0))
        #expect(try ErrorResponse.decode(from: []) == ErrorResponse(code: ErrorCode(rawValue: 0), message: ""))
    }

    // MARK: Keys are bytes

    static let awkwardKeys: [[UInt8]] = [
        [],
        [0x00],
        [0x61, 0x00, 0x62],
        [0xff, 0xfe, 0x80],  // invalid UTF-8
        [0xc3],  // a truncated two-byte sequence
        Array("ключ 🔑".utf8),
        Array(repeating: 0x00, count: 300),
    ]

    @Test(arguments: awkwardKeys)
    func keysRoundTripAsBytes(key: [UInt8]) throws {
        let group: [UInt8] = [0x67, 0x00, 0xff]
        let get = GetRequest(group: group, key: key)
        #expect(try GetRequest.decode(from: get.encoded()) == get)
        let remove = RemoveRequest(group: group, key: key)
        #expect(try RemoveRequest.decode(from: remove.encoded()) == remove)
        let set = SetRequest(group: group, key: key, value: key + [0x00], expire: -1)
        #expect(try SetRequest.decode(from: set.encoded()) == set)
    }

    @Test func removeKeysRoundTripsEveryKey() throws {
        let request = RemoveKeysRequest(group: Array("users".utf8), keys: Self.awkwardKeys)
        let decoded = try RemoveKeysRequest.decode(from: request.encoded())
        #expect(decoded == request)
        let none = RemoveKeysRequest(group: [0x67], keys: [])
        #expect(try RemoveKeysRequest.decode(from: none.encoded()) == none)
    }

    @Test func removeKeysRefusesMoreKeysThanTheLimit() throws {
        var limits = FrameLimits()
        limits.maxRemoveKeys = 3
        let atLimit = RemoveKeysRequest(group: [0x67], keys: [[1], [2], [3]])
        #expect(try RemoveKeysRequest.decode(from: atLimit.encoded(), limits: limits) == atLimit)

        let over = RemoveKeysRequest(group: [0x67], keys: [[1], [2], [3], [4]])
        let error = #expect(throws: WireError.self) {
            try RemoveKeysRequest.decode(from: over.encoded(), limits: limits)
        }
        #expect(error?.code == .tooManyKeys)
        #expect(error?.errorCode == .tooLarge)
    }

    @Test func removeKeysAcceptsTenThousandKeysByDefault() throws {
        let keys = (0..<10_000).map { Array("key-\($0)".utf8) }
        let request = RemoveKeysRequest(group: [0x67], keys: keys)
        let payload = request.encoded()
        #expect(payload.count <= FrameLimits().maxRemoveKeysBytes)
        #expect(try RemoveKeysRequest.decode(from: payload, limits: FrameLimits()) == request)
        let error = #expect(throws: WireError.self) {
            try RemoveKeysRequest.decode(from: (request.keys + [[0x78]]).encodedAsRemoveKeys, limits: FrameLimits())
        }
        #expect(error?.code == .tooManyKeys)
    }

    // MARK: Unknown fields

    @Test func unknownFieldsAreSkipped() throws {
        let known = hexBytes("0a 05 75 73 65 72 73 12 05 31 32 33 34 35")
        let unknown = hexBytes(
            """
            a0 06 96 01                 # field 100, varint 150
            a9 06 01 02 03 04 05 06 07 08   # field 101, fixed64
            b2 06 03 61 62 63           # field 102, length-delimited "abc"
            bd 06 01 02 03 04           # field 103, fixed32
            18 07                       # field 3, varint
            """)
        let want = GetRequest(group: Array("users".utf8), key: Array("12345".utf8))
        #expect(try GetRequest.decode(from: unknown + known) == want)
        #expect(try GetRequest.decode(from: known + unknown) == want)
        #expect(try RemoveRequest.decode(from: known + unknown) == RemoveRequest(group: want.group, key: want.key))
    }

    @Test func goMinuteQPSIsIgnored() throws {
        // value "hi", minute_qps 2.5, no expire: what golang/groupcache's original server may send.
        let bytes = hexBytes("0a 02 68 69 11 00 00 00 00 00 00 04 40")
        #expect(try GetResponse.decode(from: bytes) == GetResponse(value: [0x68, 0x69], expire: 0))
    }

    // MARK: Malformed payloads

    static let malformed: [(name: String, bytes: String)] = [
        ("truncated group", "0a 05 75 73"),
        ("missing key", "0a 05 75 73 65 72 73"),
        ("empty", ""),
        ("group as a varint", "08 01 12 00"),
        ("truncated varint", "0a 00 12 00 a0 86"),
        ("length past the end", "0a 00 12 7f 61"),
        ("field number 0", "02 00 0a 00 12 00"),
    ]

    @Test(arguments: malformed)
    func malformedGetRequestsAreRefused(name: String, bytes: String) {
        let error = #expect(throws: WireError.self, "\(name)") {
            try GetRequest.decode(from: hexBytes(bytes))
        }
        #expect(error?.code == .malformedPayload, "\(name): got \(String(describing: error)); want malformedPayload")
        #expect(error?.errorCode == .badRequest)
    }

    // MARK: The decode budget

    @Test func aGetResponseReadInPlaceSkipsUnknownFieldsWithoutTheBudget() throws {
        // The in-place reader holds nothing for a skipped field, so it needs no budget: the value is all it keeps.
        let payload = hexBytes("0a 03 61 62 63") + repeated([0x78, 0x00], toCount: 1 << 20) + hexBytes("18 07")
        #expect(try GetResponse.decode(from: payload) == GetResponse(value: Array("abc".utf8), expire: 7))
    }

    @Test func manyTinyUnknownFieldsAreRefusedByTheBudget() {
        // `78 00` is field 15, varint 0: two bytes that cost protobuf-c some 60 bytes to decode.
        // Payloads as large as their frame limit allows, with values capped at 4 MiB (the default 64 MiB costs
        // seconds to build in a debug build and shows nothing more).
        let limits = FrameLimits(maxValueBytes: 4 << 20)
        let cases: [(name: String, prefix: [UInt8], limit: Int, decode: ([UInt8]) throws(WireError) -> Void)] = [
            ("GetResponse", [], limits.maxPayloadBytes(for: .getReply), { bytes throws(WireError) in
                _ = try GetResponse.decodeWithProtobufC(from: bytes)
            }),
            ("SetRequest", hexBytes("0a 00 12 00"), limits.maxPayloadBytes(for: .set), { bytes throws(WireError) in
                _ = try SetRequest.decode(from: bytes)
            }),
            ("RemoveKeysRequest", hexBytes("0a 00"), limits.maxPayloadBytes(for: .removeKeys), {
                bytes throws(WireError) in _ = try RemoveKeysRequest.decode(from: bytes)
            }),
        ]
        for (name, prefix, limit, decode) in cases {
            let count = (limit - prefix.count) & ~1
            let payload = prefix + repeated([0x78, 0x00], toCount: count)
            let error = #expect(throws: WireError.self, "\(name) of \(payload.count) bytes") {
                try decode(payload)
            }
            #expect(error?.code == .malformedPayload)
            #expect(error?.message.contains("budget") == true, "\(name): got \(String(describing: error))")
        }
    }

    @Test func manyTinyKeysAreRefusedByTheBudget() {
        // `12 00`: an empty key, 2 bytes on the wire and about 50 in protobuf-c.
        let payload = hexBytes("0a 00") + repeated([0x12, 0x00], toCount: FrameLimits().maxRemoveKeysBytes - 2)
        let error = #expect(throws: WireError.self) { try RemoveKeysRequest.decode(from: payload) }
        #expect(error?.message.contains("budget") == true, "got \(String(describing: error))")
    }

    @Test func smallPayloadsOfTinyFieldsFitTheBudget() throws {
        // protobuf-c spends about 45 bytes per byte of tiny unknown fields, so the 2 MiB slack covers some 48 KiB
        // of them: 32 KiB decode, 64 KiB do not.
        let known = hexBytes("0a 01 67 12 01 6b")
        let fits = known + repeated([0x78, 0x00], toCount: 32 << 10)
        #expect(try GetRequest.decode(from: fits) == GetRequest(group: [0x67], key: [0x6b]))
        let tooMany = known + repeated([0x78, 0x00], toCount: 64 << 10)
        let error = #expect(throws: WireError.self) { try GetRequest.decode(from: tooMany) }
        #expect(error?.message.contains("budget") == true, "got \(String(describing: error))")
    }

    @Test func largeValuesDecode() throws {
        var value = repeated(Array("0123456789abcdef".utf8), toCount: 8 << 20)
        value[0] = 0x00
        value[value.count - 1] = 0xff
        let response = GetResponse(value: value, expire: 42)
        #expect(try GetResponse.decode(from: response.encoded()) == response)
        let set = SetRequest(group: [0x67], key: [0x6b], value: value, expire: 42)
        #expect(try SetRequest.decode(from: set.encoded()) == set)
    }

    // MARK: Errors and stats

    @Test func errorResponseRoundTrips() throws {
        let response = ErrorResponse(code: .loadFailed, message: "loader: disk on fire 🔥")
        #expect(try ErrorResponse.decode(from: response.encoded()) == response)
        let unknownCode = ErrorResponse(code: ErrorCode(rawValue: 4_000_000_000), message: "")
        #expect(try ErrorResponse.decode(from: unknownCode.encoded()) == unknownCode)
    }

    /// A remove that failed at hundreds of peers still fits an ERROR frame: the IDs that do not fit in 2 KiB
    /// are left out, the first ones kept in order.
    @Test func failedPeersAreCutTo2KiB() throws {
        let peers = (0..<300).map { "http://10.0.\($0 / 256).\($0 % 256):8080" }
        let encoded = ErrorResponse(code: .unavailable, message: "remove failed", failedPeers: peers).encoded()
        let got = try ErrorResponse.decode(from: encoded)
        let kept = got.failedPeers.reduce(0) { $0 + $1.utf8.count }
        #expect(!got.failedPeers.isEmpty && got.failedPeers == Array(peers.prefix(got.failedPeers.count)))
        #expect(kept <= ErrorResponse.maxFailedPeerBytes && kept + peers[got.failedPeers.count].utf8.count > ErrorResponse.maxFailedPeerBytes)
        #expect(encoded.count <= FrameLimits().maxPayloadBytes(for: .error))
    }

    @Test func errorMessagesAreCutToOneKiBOnACharacterBoundary() throws {
        let cases: [(message: String, want: String)] = [
            (String(repeating: "x", count: 1024), String(repeating: "x", count: 1024)),
            (String(repeating: "x", count: 1025), String(repeating: "x", count: 1024)),
            ("a" + String(repeating: "é", count: 1000), "a" + String(repeating: "é", count: 511)),
            (String(repeating: "🔑", count: 300), String(repeating: "🔑", count: 256)),
            ("abc\u{0}def", "abc"),
        ]
        for (message, want) in cases {
            let got = try ErrorResponse.decode(from: ErrorResponse(code: .internalError, message: message).encoded())
            #expect(got.message == want, "got \(got.message.utf8.count) bytes; want \(want.utf8.count)")
            #expect(got.message.utf8.count <= ErrorResponse.maxMessageBytes)
        }
    }

    @Test func invalidUTF8InAnErrorMessageIsRepaired() throws {
        let got = try ErrorResponse.decode(from: hexBytes("08 07 12 04 61 ff fe 62"))
        #expect(got == ErrorResponse(code: .internalError, message: "a\u{FFFD}\u{FFFD}b"))
    }

    @Test func statsRoundTrip() throws {
        var users = StatsResponse.Group(name: Array("users".utf8))
        users.gets = 1
        users.cacheHits = 2
        users.peerLoads = 3
        users.peerErrors = 4
        users.loads = 5
        users.loadsDeduped = 6
        users.localLoads = 7
        users.localLoadErrs = 8
        users.serverRequests = .max
        users.mainCache.bytes = 10
        users.mainCache.items = 11
        users.mainCache.gets = 12
        users.mainCache.hits = 13
        users.mainCache.evictions = 14
        users.hotCache.bytes = 1 << 40
        users.hotCache.evictions = 1
        let empty = StatsResponse.Group(name: [])
        let response = StatsResponse(groups: [users, empty, StatsResponse.Group(name: [0x00, 0xff])])
        #expect(try StatsResponse.decode(from: response.encoded()) == response)

        let none = StatsResponse(groups: [])
        #expect(none.encoded() == [])
        #expect(try StatsResponse.decode(from: []) == none)
    }

    @Test func messagesAppendToABuffer() throws {
        var buffer: [UInt8] = [0xaa]
        GetRequest(group: [0x67], key: [0x6b]).encode(to: &buffer)
        #expect(buffer == hexBytes("aa 0a 01 67 12 01 6b"), "got \(buffer.hex)")
    }
}

extension Array where Element == [UInt8] {
    /// These keys as a REMOVE_KEYS payload for group "g".
    fileprivate var encodedAsRemoveKeys: [UInt8] { RemoveKeysRequest(group: [0x67], keys: self).encoded() }
}
