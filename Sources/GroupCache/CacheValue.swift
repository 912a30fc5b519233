public import FoundationEssentials

/// A cached value: immutable bytes and an optional absolute expiry time.
///
/// Copying a value shares its bytes, so values pass between callers, caches and peers without copies.
/// The three ways a loader builds one mirror Go groupcache's sink: bytes (`SetBytes`), a string (`SetString`),
/// or a protobuf-style message (`SetProto`), each with an optional expiry.
///
/// Expiry is wall-clock time, so every node's clock must be synchronised (NTP or better): a node whose clock
/// runs ahead treats values as expired early, one that runs behind serves them late.
///
/// Concurrency: an immutable value; share it freely.
public struct CacheValue: Hashable, Sendable {
    /// The value's bytes.
    public let bytes: [UInt8]

    /// When the value expires, in nanoseconds since 1970-01-01 UTC; 0 means never. This is the form that
    /// travels between peers.
    public let expiryNanoseconds: Int64

    /// Creates a value holding `bytes`, expiring at `expiresAt` (never, if `nil`).
    public init(_ bytes: [UInt8], expiresAt: Date? = nil) {
        self.init(bytes, expiryNanoseconds: expiresAt.map(Self.nanoseconds(since1970:)) ?? 0)
    }

    /// Creates a value holding the UTF-8 encoding of `string`, expiring at `expiresAt` (never, if `nil`).
    public init(_ string: String, expiresAt: Date? = nil) {
        self.init(Array(string.utf8), expiresAt: expiresAt)
    }

    /// Creates a value holding `bytes`, expiring at `expiryNanoseconds` since 1970 (0 = never), as a peer sent it.
    public init(_ bytes: [UInt8], expiryNanoseconds: Int64) {
        self.bytes = bytes
        self.expiryNanoseconds = expiryNanoseconds
    }

    /// When the value expires, or `nil` if it never does.
    public var expiresAt: Date? {
        expiryNanoseconds == 0 ? nil : Date(timeIntervalSince1970: Double(expiryNanoseconds) / 1e9)
    }

    /// The value's bytes decoded as UTF-8, with invalid sequences repaired.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// The number of bytes in the value; the cache's byte budget counts this plus the key's bytes.
    public var count: Int { bytes.count }

    /// Returns whether the value has expired at `now` (nanoseconds since 1970). A negative expiry, which only a
    /// faulty peer sends, counts as expired.
    public func isExpired(at now: Int64) -> Bool {
        expiryNanoseconds != 0 && expiryNanoseconds <= now
    }

    static func nanoseconds(since1970 date: Date) -> Int64 {
        let nanoseconds = (date.timeIntervalSince1970 * 1e9).rounded()
        // A date too far out for Int64 nanoseconds saturates; 0 is reserved for "never", so a date at the epoch
        // becomes 1 ns after it, which has long passed.
        if nanoseconds >= Double(Int64.max) { return .max }
        if nanoseconds <= Double(Int64.min) { return .min }
        return Int64(nanoseconds) == 0 ? 1 : Int64(nanoseconds)
    }
}
