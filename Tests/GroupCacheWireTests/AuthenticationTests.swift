import Foundation
import GroupCacheAuth
import GroupCacheWire
import TestSupport
import Testing

/// The handshake and the frame tags without sockets: the worked example of docs/PROTOCOL.md, computed here and
/// independently with Python's hmac (the hex below), and every way a frame can be forged.
@Suite struct AuthenticationTests {
    static let secret = Array("0123456789abcdef0123456789abcdef".utf8)
    static let clientNonce = Array(UInt8(0)..<32)
    static let serverNonce = Array(UInt8(32)..<64)

    /// Both sides of the worked example's handshake, run to the end.
    static func session() throws -> (client: FrameSealer, clientOpener: FrameOpener, server: FrameSealer, serverOpener: FrameOpener) {
        let secrets = try ClusterSecrets([secret])
        let client = Handshake.Client(secrets: secrets, nonce: clientNonce)
        let (reply, serverSealer, awaiting) = try Handshake.Server(secrets: secrets).answer(client.hello, nonce: serverNonce)
        let (proof, clientSealer, clientOpener) = try client.finish(reply)
        return (clientSealer, clientOpener, serverSealer, try awaiting.verify(proof))
    }

    @Test func theWorkedExampleGivesTheDocumentedBytes() throws {
        let secrets = try ClusterSecrets([Self.secret])
        #expect(secrets.connecting.keyID == hexBytes("b51cf5e121b4f3db"))
        let client = Handshake.Client(secrets: secrets, nonce: Self.clientNonce)
        let (reply, _, awaiting) = try Handshake.Server(secrets: secrets).answer(client.hello, nonce: Self.serverNonce)
        #expect(reply.proof == hexBytes("9467e8a3c74170e8797e186c92e6cca82f31eadf0badbb915a3050952c9d9c34"))
        let (proof, sealer, _) = try client.finish(reply)
        #expect(proof.proof == hexBytes("77037af375f19266162e79ef8aa24a6c44b4384502a0b4925f2b2f2d2239c078"))
        _ = try awaiting.verify(proof)

        var clientSealer = sealer
        let ping = clientSealer.seal(Frame(kind: .ping, id: 1).encoded())
        #expect(ping == hexBytes("00000016 05 00 00000001 2dbfbe7f40e7ae4785255ddca72445af"))
        let second = clientSealer.seal(Frame(kind: .ping, id: 2).encoded())
        #expect(Array(second.suffix(16)) == hexBytes("60f5cb3f49baabd1a9e62436c40ecdac"), "the count is in the tag")
    }

    @Test func theDocumentsTaggedExamplesVerifyInOrder() throws {
        let text = try String(contentsOfFile: ProtocolDocTests.documentPath, encoding: .utf8)
        var blocks: [(String, [UInt8])] = []
        var current: String?
        var body = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let name = current {
                if line.hasPrefix("```") {
                    blocks.append((name, hexBytes(body)))
                    current = nil
                } else {
                    body += line + "\n"
                }
            } else if line.hasPrefix("```hex tagged=") {
                current = String(line.dropFirst("```hex tagged=".count))
                body = ""
            }
        }
        #expect(blocks.map(\.0) == ["PING", "PONG"])
        let (_, clientOpener, _, serverOpener) = try Self.session()
        for (name, bytes) in blocks {
            var parser = FrameParser()
            parser.requireTags(name == "PING" ? serverOpener : clientOpener)
            parser.append(bytes)
            let frame = try #require(try parser.next())
            #expect(frame.kind.description == name)
            #expect(parser.bufferedByteCount == 0)
        }
    }

    @Test func sealedFramesParseAndCount() throws {
        let (sealer, _, _, serverOpener) = try Self.session()
        var client = sealer
        var parser = FrameParser()
        parser.requireTags(serverOpener)
        // Two frames sealed in one buffer, as a connection's batch is, then one more.
        var batch = Frame(kind: .get, flags: .route, id: 7, message: GetRequest(group: [1], key: [2])).encoded()
        Frame.encode(kind: .stats, id: 8, to: &batch)
        parser.append(client.seal(batch))
        parser.append(client.seal(Frame(kind: .ping, id: 9).encoded()))
        #expect(try parser.next()?.id == 7)
        #expect(try parser.next()?.id == 8)
        #expect(try parser.next()?.id == 9)
        #expect(try parser.next() == nil)
        #expect(client.count == 3)
    }

    /// Every forgery fails the parser with `unauthenticated`, and it stays failed.
    @Test(arguments: ["flipped payload bit", "flipped header bit", "flipped tag bit", "replayed", "reordered", "reflected", "untagged"])
    func forgedFramesAreRefused(forgery: String) throws {
        let (clientSealer, _, serverSealer, serverOpener) = try Self.session()
        var (client, server) = (clientSealer, serverSealer)
        let first = client.seal(Frame(kind: .get, id: 1, message: GetRequest(group: [1], key: [2])).encoded())
        let second = client.seal(Frame(kind: .ping, id: 2).encoded())
        var stream: [UInt8]
        switch forgery {
        case "flipped payload bit": stream = first; stream[12] ^= 0x01
        case "flipped header bit": stream = first; stream[9] ^= 0x04
        case "flipped tag bit": stream = first; stream[stream.count - 1] ^= 0x80
        case "replayed": stream = first + first
        case "reordered": stream = second + first
        case "reflected": stream = server.seal(Frame(kind: .get, id: 1, message: GetRequest(group: [1], key: [2])).encoded())
        default: stream = Frame(kind: .get, id: 1, message: GetRequest(group: [1], key: [2])).encoded()
        }
        var parser = FrameParser()
        parser.requireTags(serverOpener)
        parser.append(stream)
        if forgery == "replayed" { #expect(try parser.next()?.id == 1, "the original verifies") }
        #expect {
            while try parser.next() != nil {}
            return false
        } throws: { error in
            (error as? WireError)?.code == .unauthenticated || (error as? WireError)?.code == .frameTooShort
        }
        #expect(throws: WireError.self) { try parser.next() }
    }

    @Test func aServerRefusesASecretItDoesNotHold() throws {
        let other = Array("another secret of thirty-two bytes or more".utf8)
        let client = Handshake.Client(secrets: try ClusterSecrets([other]))
        #expect {
            _ = try Handshake.Server(secrets: try ClusterSecrets([Self.secret])).answer(client.hello)
        } throws: { error in
            let error = error as? WireError
            return error?.code == .unauthenticated && error!.message.contains("wrong secret")
                && !error!.message.contains("thirty-two") && !error!.message.contains("0123456789")
        }
    }

    @Test func aClientRefusesAServerThatCannotProveTheSecret() throws {
        let client = Handshake.Client(secrets: try ClusterSecrets([Self.secret]))
        var reply = try Handshake.Server(secrets: try ClusterSecrets([Self.secret])).answer(client.hello).reply
        reply.proof[0] ^= 1
        #expect(throws: WireError.self) { try client.finish(reply) }
        reply.proof[0] ^= 1
        reply.version = 1
        #expect(throws: WireError.self) { try client.finish(reply) }
    }

    @Test func aServerWithTwoSecretsAcceptsEitherAndAClientConnectsWithTheFirst() throws {
        let old = Array("the old secret, thirty-two bytes long".utf8)
        let new = Array("the new secret, thirty-two bytes long".utf8)
        let server = Handshake.Server(secrets: try ClusterSecrets([old, new]))
        for secrets in [[old], [new], [new, old], [old, new]] {
            let client = Handshake.Client(secrets: try ClusterSecrets(secrets))
            let (reply, _, awaiting) = try server.answer(client.hello)
            _ = try awaiting.verify(try client.finish(reply).proof)
        }
        let rotated = Handshake.Client(secrets: try ClusterSecrets([new, old]))
        #expect(throws: WireError.self) {
            try Handshake.Server(secrets: try ClusterSecrets([old])).answer(rotated.hello)
        }
    }

    @Test func secretFilesAreReadLineByLine() throws {
        let long = String(repeating: "s", count: 32)
        let secrets = try ClusterSecrets(parsing: "\n  \(long)  \n\n\t\(long)x\r\n")
        #expect(secrets.secrets.count == 2)
        #expect(!secrets.description.contains(long), "\(secrets)")
        #expect(secrets.description.contains(secrets.connecting.keyID.hex.replacingOccurrences(of: " ", with: "")))
        #expect { try ClusterSecrets(parsing: "\(long)\nshort-secret\n") } throws: { error in
            "\(error)".contains("line 2") && "\(error)".contains("at least 32 bytes") && !"\(error)".contains("short-secret")
        }
        #expect(throws: ClusterSecrets.Invalid.self) { try ClusterSecrets(parsing: " \n\n") }
        #expect { try ClusterSecrets(contentsOfFile: "/nonexistent/secret") } throws: { error in
            "\(error)".contains("/nonexistent/secret")
        }
    }

    @Test func theHelloMessageRoundTrips() throws {
        let hello = Hello(nonce: Self.clientNonce, versions: [1, 2], keyID: [1, 2, 3], version: 2, proof: [9])
        #expect(try Hello.decode(from: hello.encoded()) == hello)
        #expect(try Hello.decode(from: Hello().encoded()) == Hello())
        #expect(Hello().encoded().isEmpty)
    }
}
