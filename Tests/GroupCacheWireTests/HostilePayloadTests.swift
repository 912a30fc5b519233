@testable import GroupCacheWire
import TestSupport
import Testing

/// Payloads built to hurt the decoder: each must throw ``WireError`` with `malformedPayload`, hold no more than its
/// budget's cap while it tries, and give back every byte it took, as must every good decode.
@Suite struct HostilePayloadTests {
    struct Hostile: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var decode: @Sendable ([UInt8]) throws(WireError) -> Void
        var testDescription: String { name }
    }

    static func getRequest(_ name: String, _ bytes: [UInt8]) -> Hostile {
        Hostile(name: name, bytes: bytes) { bytes throws(WireError) in _ = try GetRequest.decode(from: bytes) }
    }

    static let hostile: [Hostile] = [
        getRequest("a truncated varint tag", hexBytes("0a 01 67 12 01 6b 80")),
        getRequest("a truncated varint length", hexBytes("0a ff ff")),
        getRequest("an 11-byte varint", hexBytes("0a 01 67 12 01 6b 78 ff ff ff ff ff ff ff ff ff ff 01")),
        getRequest("group as a fixed64", hexBytes("09 00 00 00 00 00 00 00 00 12 00")),
        getRequest("key as a fixed32", hexBytes("0a 00 15 00 00 00 00")),
        getRequest("a length past the end", hexBytes("0a 00 12 05 61 62")),
        getRequest("a length of 2 GiB", hexBytes("0a 80 80 80 80 08 61")),
        getRequest("a start group (wire type 3) for the key", hexBytes("0a 00 13 0c 14")),
        getRequest("an end group (wire type 4) for the key", hexBytes("0a 00 14")),
        getRequest("wire type 6", hexBytes("0a 00 12 00 7e 00")),
        getRequest(
            "100,000 tiny unknown fields",
            hexBytes("0a 01 67 12 01 6b") + repeated([0x78, 0x00], toCount: 200_000)),
        // GetResponse is decoded in place (see inPlaceGetResponsesRefuseTheSame); these check protobuf-c's reading,
        // which the fuzz target compares it with.
        Hostile(name: "GetResponse with a group for the value", bytes: hexBytes("0b 0c 18 00")) { bytes throws(WireError) in
            _ = try GetResponse.decodeWithProtobufC(from: bytes)
        },
        Hostile(name: "GetResponse with expire as bytes", bytes: hexBytes("0a 00 1a 01 00")) { bytes throws(WireError) in
            _ = try GetResponse.decodeWithProtobufC(from: bytes)
        },
        Hostile(name: "SetRequest with a truncated value", bytes: hexBytes("0a 00 12 00 1a 10 61")) {
            bytes throws(WireError) in _ = try SetRequest.decode(from: bytes)
        },
        Hostile(
            name: "RemoveKeysRequest with 100,000 empty keys and a bad tail",
            bytes: hexBytes("0a 00") + repeated([0x12, 0x00], toCount: 200_000) + [0x12, 0x05]
        ) { bytes throws(WireError) in _ = try RemoveKeysRequest.decode(from: bytes) },
        Hostile(name: "StatsResponse with a group missing its name", bytes: hexBytes("0a 02 10 01")) {
            bytes throws(WireError) in _ = try StatsResponse.decode(from: bytes)
        },
    ]

    @Test(arguments: hostile)
    func hostilePayloadsThrowWithinTheirBudget(payload: Hostile) {
        let error = #expect(throws: WireError.self, "\(payload.name)") { try payload.decode(payload.bytes) }
        #expect(error?.code == .malformedPayload, "\(payload.name): got \(String(describing: error))")
        let memory = DecodeMemory.last
        #expect(memory.cap == 2 * payload.bytes.count + 2 << 20)
        #expect(memory.peak <= memory.cap, "\(payload.name): held \(memory.peak) bytes; cap \(memory.cap)")
        #expect(memory.held == 0, "\(payload.name): \(memory.held) bytes still held after the decode")
    }

    @Test(arguments: ["0b 0c 18 00", "0a 00 1a 01 00", "0a 05 61", "18 ff ff ff ff ff ff ff ff ff ff 01", "0f"])
    func inPlaceGetResponsesRefuseTheSame(hex: String) {
        let bytes = hexBytes(hex)
        let error = #expect(throws: WireError.self, "\(hex)") { try GetResponse.decode(from: bytes) }
        #expect(error?.code == .malformedPayload)
        #expect(throws: WireError.self, "protobuf-c accepts \(hex)") { try GetResponse.decodeWithProtobufC(from: bytes) }
    }

    @Test func goodDecodesGiveBackEveryByte() throws {
        let value = repeated(Array("value".utf8), toCount: 1 << 20)
        let decodes: [(name: String, decode: () throws -> Bool)] = [
            ("GetRequest", { try GetRequest.decode(from: GetRequest(group: [1], key: [2]).encoded()).key == [2] }),
            ("GetResponse", { try GetResponse.decode(from: GetResponse(value: value, expire: 1).encoded()).value == value }),
            ("SetRequest", {
                try SetRequest.decode(from: SetRequest(group: [1], key: [2], value: value).encoded()).value == value
            }),
            ("RemoveKeysRequest", {
                let keys = (0..<1_000).map { Array("key-\($0)".utf8) }
                return try RemoveKeysRequest.decode(from: RemoveKeysRequest(group: [1], keys: keys).encoded()).keys == keys
            }),
            ("ErrorResponse", { try ErrorResponse.decode(from: ErrorResponse(code: .notFound, message: "x").encoded()).message == "x" }),
        ]
        for (name, decode) in decodes {
            #expect(try decode(), "\(name) did not round-trip")
            let memory = DecodeMemory.last
            #expect(memory.peak > 0, "\(name): the decode was not measured")
            #expect(memory.peak <= memory.cap)
            #expect(memory.held == 0, "\(name): \(memory.held) bytes still held after the decode")
        }
    }
}
