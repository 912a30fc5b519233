#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A cache key: a sequence of bytes, compared and hashed byte by byte.
///
/// Go keys are arbitrary bytes, while a Swift `String` compares by canonical equivalence and repairs invalid
/// UTF-8. So a key holds bytes: the precomposed "é" (`c3 a9`) and the decomposed "é" (`65 cc 81`) are two keys,
/// and a key may hold NUL bytes or bytes that are not UTF-8 at all. A key built from a `String` holds its UTF-8.
///
/// Concurrency: an immutable value; share it freely.
public struct CacheKey: Hashable, Sendable {
    /// The key's bytes.
    public let bytes: [UInt8]

    /// Creates a key holding the UTF-8 encoding of `string`.
    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    /// Creates a key holding `bytes` exactly.
    public init(bytes: some Sequence<UInt8>) {
        self.bytes = Array(bytes)
    }

    /// The number of bytes in the key; this is what the cache's byte budget counts for it.
    public var count: Int { bytes.count }

    /// Calls `body` with the key's bytes.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes(body)
    }

    /// Returns whether two keys hold the same bytes.
    public static func == (lhs: CacheKey, rhs: CacheKey) -> Bool {
        lhs.bytes.withUnsafeBytes { left in
            rhs.bytes.withUnsafeBytes { right in
                left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
    }

    /// Feeds the key's bytes to `hasher` in one call.
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

extension CacheKey: ExpressibleByStringLiteral {
    /// Creates a key holding the UTF-8 encoding of a string literal.
    public init(stringLiteral value: String) {
        self.init(value)
    }
}

extension CacheKey: CustomStringConvertible {
    /// The key as text when its bytes are valid UTF-8 with no control characters, otherwise as `0x` and hex.
    public var description: String {
        if let text = String(validating: bytes, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 }) {
            return text
        }
        return "0x" + bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }
}
