import Crypto
import Foundation
import GroupCacheWire

/// The secrets a cluster's nodes share to prove to each other that they belong (docs/PROTOCOL.md,
/// "Authentication"). Every secret listed is accepted from a connecting peer; the first is the one this node
/// connects with. Two let a cluster change its secret with no downtime: restart each node with [old, new], then
/// each with [new, old], then each with [new].
///
/// Secrets come from a file, one per non-empty line with the whitespace around it stripped, and are never
/// printed: ``description`` names only their key ids, which identify a secret without revealing it.
///
/// ```swift
/// let secrets = try ClusterSecrets(contentsOfFile: "/etc/groupcache/secret")
/// ```
///
/// Concurrency: an immutable value.
public struct ClusterSecrets: Sendable, CustomStringConvertible {
    /// One secret: its bytes, kept for the handshake, and its key id.
    public struct Secret: Sendable {
        let bytes: SymmetricKey
        /// The first 8 bytes of HMAC-SHA256(secret, "groupcache key id"): what a client's HELLO names, so that a
        /// server holding several secrets knows which one to prove. It reveals nothing of the secret.
        public let keyID: [UInt8]

        init(_ bytes: [UInt8]) {
            self.bytes = SymmetricKey(data: bytes)
            self.keyID = Array(HMAC<SHA256>.authenticationCode(for: Array(Handshake.keyIDLabel.utf8), using: self.bytes))
                .prefix(Handshake.keyIDByteCount).map { $0 }
        }
    }

    /// The shortest secret accepted, in bytes: 256 bits, the size of the HMAC-SHA256 key.
    public static let minimumByteCount = 32
    /// The most secrets one file may list: two are all a rotation needs.
    public static let maximumCount = 4

    /// The secrets, the one to connect with first.
    public let secrets: [Secret]

    /// Secrets from `secrets`, the first to connect with.
    ///
    /// - Throws: ``Invalid`` if there are none, more than ``maximumCount``, or one is shorter than
    ///   ``minimumByteCount`` bytes.
    public init(_ secrets: [[UInt8]]) throws(Invalid) {
        guard !secrets.isEmpty else { throw Invalid("no secret is given") }
        guard secrets.count <= Self.maximumCount else {
            throw Invalid("\(secrets.count) secrets are given; at most \(Self.maximumCount) are accepted")
        }
        for (index, secret) in secrets.enumerated() where secret.count < Self.minimumByteCount {
            throw Invalid(
                "secret \(index + 1) is \(secret.count) bytes; a secret must be at least \(Self.minimumByteCount) bytes")
        }
        self.secrets = secrets.map(Secret.init)
    }

    /// Secrets from `text`: each non-empty line, with surrounding whitespace stripped, is one secret.
    ///
    /// - Throws: ``Invalid`` as ``init(_:)`` does, with line numbers.
    public init(parsing text: String) throws(Invalid) {
        var secrets: [[UInt8]] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let secret = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else { continue }
            guard secret.utf8.count >= Self.minimumByteCount else {
                throw Invalid(
                    "line \(number + 1) holds a secret of \(secret.utf8.count) bytes; a secret must be at least "
                        + "\(Self.minimumByteCount) bytes (for example: openssl rand -hex 32)")
            }
            secrets.append(Array(secret.utf8))
        }
        try self.init(secrets)
    }

    /// Secrets read from the file at `path`, as ``init(parsing:)`` reads them.
    ///
    /// - Throws: ``Invalid`` if the file cannot be read or holds no valid secret; the message names the file,
    ///   never a secret.
    public init(contentsOfFile path: String) throws(Invalid) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Invalid("cannot read the secret file \(path): \((error as NSError).localizedDescription)")
        }
        do {
            try self.init(parsing: text)
        } catch {
            throw Invalid("the secret file \(path): \(error.message)")
        }
    }

    /// The secret to connect with.
    public var connecting: Secret { secrets[0] }

    /// The secret whose key id is `keyID`, if this node holds it. Compared in constant time.
    func secret(keyID: [UInt8]) -> Secret? {
        secrets.first { Handshake.constantTimeEqual($0.keyID, keyID) }
    }

    /// How many secrets and their key ids, in hex; never a secret.
    public var description: String {
        "\(secrets.count) cluster secret\(secrets.count == 1 ? "" : "s") (key id "
            + secrets.map { Handshake.hex($0.keyID) }.joined(separator: ", ") + ")"
    }

    /// Why secrets were refused.
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        /// What is wrong, for people; it never quotes a secret.
        public let message: String
        init(_ message: String) { self.message = message }
        /// The message.
        public var description: String { message }
    }
}
