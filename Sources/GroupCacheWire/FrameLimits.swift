/// The largest payload a reader accepts for each frame kind, checked on the header before the body is read.
///
/// The same limits apply in both directions: a server parses requests with them, a client parses replies.
/// A frame over its limit fails the parser with ``WireError/Code/frameTooLarge`` before any of its body is
/// buffered, so a peer cannot make this node allocate what a length field claims. Limits count payload bytes;
/// the length field is 6 more.
///
/// | kinds                                       | default              | property                |
/// |---------------------------------------------|----------------------|-------------------------|
/// | GET, REMOVE, PING, STATS, unknown requests  | 64 KiB               | ``maxRequestBytes``     |
/// | REMOVE_KEYS                                 | 1 MiB, 10,000 keys   | ``maxRemoveKeysBytes``, ``maxRemoveKeys`` |
/// | SET, GET_REPLY                              | 64 MiB + 64 KiB      | ``maxValueBytes`` + ``maxRequestBytes`` |
/// | SET/REMOVE/REMOVE_KEYS replies, PONG, unknown replies | 64 KiB     | ``maxReplyBytes``       |
/// | STATS_REPLY                                 | 4 MiB                | ``maxStatsReplyBytes``  |
/// | ERROR                                       | 4 KiB                | ``maxErrorBytes``       |
///
/// Concurrency: a value type; copy it freely.
public struct FrameLimits: Hashable, Sendable {
    /// The largest value a SET may carry or a GET reply may return. Default 64 MiB.
    public var maxValueBytes: Int
    /// The largest GET, REMOVE, PING, STATS or unknown request; also the room a SET or GET reply gets for group,
    /// key and framing on top of ``maxValueBytes``. Default 64 KiB.
    public var maxRequestBytes: Int
    /// The largest REMOVE_KEYS request. Default 1 MiB.
    public var maxRemoveKeysBytes: Int
    /// The most keys one REMOVE_KEYS may name, checked after decoding by
    /// ``RemoveKeysRequest/decode(from:limits:)``. Default 10,000.
    public var maxRemoveKeys: Int
    /// The largest empty-bodied reply (SET, REMOVE and REMOVE_KEYS acknowledgements, PONG) and unknown reply kind.
    /// Their payloads are empty today; the room is for fields added later. Default 64 KiB.
    public var maxReplyBytes: Int
    /// The largest STATS reply: some 25,000 groups with 100-byte names. Default 4 MiB.
    public var maxStatsReplyBytes: Int
    /// The largest ERROR: a 1 KiB message, its code, and room. Default 4 KiB.
    public var maxErrorBytes: Int

    /// Creates limits with the defaults above, and `maxValueBytes` as given.
    public init(maxValueBytes: Int = 64 << 20) {
        self.maxValueBytes = maxValueBytes
        self.maxRequestBytes = 64 << 10
        self.maxRemoveKeysBytes = 1 << 20
        self.maxRemoveKeys = 10_000
        self.maxReplyBytes = 64 << 10
        self.maxStatsReplyBytes = 4 << 20
        self.maxErrorBytes = 4 << 10
    }

    /// Returns the largest payload, in bytes, that a frame of `kind` may carry.
    public func maxPayloadBytes(for kind: FrameKind) -> Int {
        switch kind {
        case .set, .getReply: maxValueBytes + maxRequestBytes
        case .removeKeys: maxRemoveKeysBytes
        case .statsReply: maxStatsReplyBytes
        case .error: maxErrorBytes
        default: kind.isRequest ? maxRequestBytes : maxReplyBytes
        }
    }
}
