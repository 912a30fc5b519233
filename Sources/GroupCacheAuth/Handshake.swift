import Crypto
import Foundation
public import GroupCacheWire

/// The handshake that opens a connection between nodes holding a cluster secret, as docs/PROTOCOL.md
/// ("Authentication") specifies it byte for byte:
///
/// 1. The client sends HELLO: its nonce, the versions it speaks (2) and the key id of its secret.
/// 2. The server answers HELLO_REPLY: its nonce, the version it chose and its proof.
/// 3. The client sends HELLO: its proof.
///
/// Both sides derive the session key K = HMAC-SHA256(secret, "groupcache session v2" ‖ client nonce ‖ server
/// nonce); a proof is HMAC-SHA256(K, label ‖ version), with a label per side, so that neither side's proof can
/// be sent back as the other's. After step 2 every frame the server sends carries a tag; after step 3 every
/// frame the client sends does (``FrameSealer``, ``FrameOpener``).
///
/// The types here hold no socket: the transport moves their messages.
public enum Handshake {
    /// The protocol version of tagged frames, the only one a node with a secret speaks.
    public static let version: UInt32 = 2
    /// The bytes of each side's nonce.
    public static let nonceByteCount = 32
    /// The bytes of a proof: a whole HMAC-SHA256.
    public static let proofByteCount = 32
    /// The bytes of a key id.
    public static let keyIDByteCount = 8
    /// The most bytes a server reads from a connection before its handshake is complete: enough for both of
    /// the client's steps, and all a stranger gets to send.
    public static let maxBytesBeforeAuthentication = 256

    static let keyIDLabel = "groupcache key id"
    static let sessionLabel = "groupcache session v2"
    static let clientProofLabel = "groupcache client proof"
    static let serverProofLabel = "groupcache server proof"

    /// Fresh random bytes for a nonce, from the system's secure generator (getrandom(2) on Linux).
    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths.
    static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<a.count { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Whether `a` and `b` hold the same bytes, in a time that depends only on their lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in constantTimeEqual(a, b) } }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    private static func failure(_ message: String) -> WireError { WireError(.unauthenticated, message) }

    /// The client's side: step 1, then step 3 from the server's answer.
    public struct Client: Sendable {
        private let secret: ClusterSecrets.Secret
        /// This side's nonce.
        public let nonce: [UInt8]

        /// A handshake with the first of `secrets` and `nonce` (fresh random bytes unless a test gives its own).
        public init(secrets: ClusterSecrets, nonce: [UInt8] = Handshake.randomNonce()) {
            self.secret = secrets.connecting
            self.nonce = nonce
        }

        /// Step 1, the HELLO to send.
        public var hello: Hello { Hello(nonce: nonce, versions: [Handshake.version], keyID: secret.keyID) }

        /// Checks the server's answer (step 2) and returns step 3, the proof to send, with the session: the
        /// sealer for this side's frames and the opener for the server's.
        ///
        /// - Throws: ``WireError/Code/unauthenticated`` if the answer chose another version, has a nonce of the
        ///   wrong size, or does not prove the secret.
        public func finish(_ reply: Hello) throws(WireError) -> (proof: Hello, sealer: FrameSealer, opener: FrameOpener) {
            guard reply.version == Handshake.version else {
                throw failure("the server chose protocol version \(reply.version); this node speaks only \(Handshake.version)")
            }
            guard reply.nonce.count == Handshake.nonceByteCount else {
                throw failure("the server's nonce is \(reply.nonce.count) bytes, not \(Handshake.nonceByteCount)")
            }
            let key = SessionKey(secret: secret, clientNonce: nonce, serverNonce: reply.nonce)
            guard constantTimeEqual(reply.proof, key.proof(Handshake.serverProofLabel)) else {
                throw failure("the server's proof does not match: it does not hold this node's secret")
            }
            return (
                Hello(proof: key.proof(Handshake.clientProofLabel)),
                FrameSealer(key: key, direction: .toServer), FrameOpener(key: key, direction: .toClient)
            )
        }
    }

    /// The server's side: step 2 from the client's HELLO, then the check of step 3.
    public struct Server: Sendable {
        private let secrets: ClusterSecrets

        /// A handshake that accepts any of `secrets`.
        public init(secrets: ClusterSecrets) {
            self.secrets = secrets
        }

        /// Answers step 1: returns step 2, the reply to send, the sealer for this side's frames from then on, and
        /// the check of the client's proof.
        ///
        /// - Throws: ``WireError/Code/unauthenticated`` if the client does not speak version 2, names a secret
        ///   this node does not hold, or sends a nonce of the wrong size.
        public func answer(
            _ hello: Hello, nonce: [UInt8] = Handshake.randomNonce()
        ) throws(WireError) -> (reply: Hello, sealer: FrameSealer, awaitingProof: AwaitingProof) {
            guard hello.versions.contains(Handshake.version) else {
                throw failure("the client speaks versions \(hello.versions); a node with a secret requires \(Handshake.version)")
            }
            guard hello.nonce.count == Handshake.nonceByteCount else {
                throw failure("the client's nonce is \(hello.nonce.count) bytes, not \(Handshake.nonceByteCount)")
            }
            guard let secret = secrets.secret(keyID: hello.keyID) else {
                throw failure("the client's secret (key id \(hex(hello.keyID))) is not one of this node's: a wrong secret")
            }
            let key = SessionKey(secret: secret, clientNonce: hello.nonce, serverNonce: nonce)
            let reply = Hello(nonce: nonce, version: Handshake.version, proof: key.proof(Handshake.serverProofLabel))
            return (reply, FrameSealer(key: key, direction: .toClient), AwaitingProof(key: key))
        }
    }

    /// The server's check of step 3.
    public struct AwaitingProof: Sendable {
        let key: SessionKey

        /// Checks the client's proof and returns the opener for its frames.
        ///
        /// - Throws: ``WireError/Code/unauthenticated`` if the proof does not match.
        public func verify(_ step: Hello) throws(WireError) -> FrameOpener {
            guard constantTimeEqual(step.proof, key.proof(Handshake.clientProofLabel)) else {
                throw failure("the client's proof does not match")
            }
            return FrameOpener(key: key, direction: .toServer)
        }
    }
}

/// The key of one authenticated connection, derived from the secret and both nonces.
struct SessionKey: Sendable {
    /// HMAC-SHA256 keyed with K, copied for each message so that the key is hashed into its pads once.
    let keyed: HMAC<SHA256>

    init(secret: ClusterSecrets.Secret, clientNonce: [UInt8], serverNonce: [UInt8]) {
        let input = Array(Handshake.sessionLabel.utf8) + clientNonce + serverNonce
        let key = HMAC<SHA256>.authenticationCode(for: input, using: secret.bytes)
        self.keyed = HMAC<SHA256>(key: SymmetricKey(data: Array(key)))
    }

    /// HMAC-SHA256(K, `label` ‖ version as 4 bytes).
    func proof(_ label: String) -> [UInt8] {
        var mac = keyed
        let version = Handshake.version
        mac.update(data: Array(label.utf8) + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: version >> $0) })
        return Array(mac.finalize())
    }
}
