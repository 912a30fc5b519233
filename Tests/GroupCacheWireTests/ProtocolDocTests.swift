import Foundation
@testable import GroupCacheWire
import TestSupport
import Testing

/// Checks the hex examples in docs/PROTOCOL.md: each decodes, as a frame and as its kind's message, and encodes
/// back to the same bytes.
@Suite struct ProtocolDocTests {
    struct Example: CustomTestStringConvertible, Sendable {
        var name: String
        var line: Int
        var bytes: [UInt8]
        var testDescription: String { "\(name) at PROTOCOL.md:\(line)" }
    }

    static let documentPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/PROTOCOL.md").path

    /// Every block fenced as ```hex frame=NAME.
    static func examples() throws -> [Example] {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        var examples: [Example] = []
        var current: Example?
        var body = ""
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let example = current {
                if line.hasPrefix("```") {
                    examples.append(Example(name: example.name, line: example.line, bytes: hexBytes(body)))
                    current = nil
                } else {
                    body += line + "\n"
                }
            } else if line.hasPrefix("```hex frame=") {
                current = Example(name: String(line.dropFirst("```hex frame=".count)), line: index + 1, bytes: [])
                body = ""
            }
        }
        return examples
    }

    @Test func everyKindHasAnExample() throws {
        let names = Set(try Self.examples().map(\.name))
        let kinds = Set(FrameKind.known.map(\.description))
        #expect(names == kinds, "missing \(kinds.subtracting(names).sorted()); unknown \(names.subtracting(kinds).sorted())")
    }

    @Test(arguments: try examples())
    func exampleRoundTrips(example: Example) throws {
        var parser = FrameParser()
        parser.append(example.bytes)
        let frame = try #require(try parser.next(), "not one complete frame")
        #expect(parser.bufferedByteCount == 0, "\(parser.bufferedByteCount) bytes after the frame")
        #expect(frame.kind.description == example.name, "got kind \(frame.kind); want \(example.name)")

        var encoded: [UInt8] = []
        switch frame.kind {
        case .get:
            try encode(GetRequest.decode(from: frame.payload))
        case .getReply:
            try encode(GetResponse.decode(from: frame.payload))
        case .set:
            try encode(SetRequest.decode(from: frame.payload))
        case .remove:
            try encode(RemoveRequest.decode(from: frame.payload))
        case .removeKeys:
            try encode(RemoveKeysRequest.decode(from: frame.payload, limits: FrameLimits()))
        case .statsReply:
            try encode(StatsResponse.decode(from: frame.payload))
        case .error:
            try encode(ErrorResponse.decode(from: frame.payload))
        case .hello, .helloReply:
            try encode(Hello.decode(from: frame.payload))
        default:
            #expect(frame.payload.isEmpty, "\(frame.kind) carries no payload")
            Frame.encode(kind: frame.kind, flags: frame.flags, id: frame.id, to: &encoded)
        }
        #expect(encoded == example.bytes, "got \(encoded.hex); want \(example.bytes.hex)")

        func encode(_ message: some WireMessage) {
            Frame.encode(kind: frame.kind, flags: frame.flags, id: frame.id, message: message, to: &encoded)
        }
    }

    @Test func goVectorsAppearInTheExamples() throws {
        let examples = try Self.examples()
        let get = try #require(examples.first { $0.name == "GET" })
        #expect(Array(get.bytes.dropFirst(10)) == hexBytes("0a 05 75 73 65 72 73 12 05 31 32 33 34 35"))
        let reply = try #require(examples.first { $0.name == "GET_REPLY" })
        #expect(Array(reply.bytes.dropFirst(10)) == hexBytes("0a 05 68 65 6c 6c 6f 18 95 9a 97 ec e3 9f e7 cb 17"))
    }
}
