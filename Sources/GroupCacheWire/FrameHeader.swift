/// The per-frame bits of byte 5. Bit 0 is ROUTE; bits 1–7 are reserved and must be zero.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    /// The byte on the wire.
    public let rawValue: UInt8

    /// Wraps a byte from the wire.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// ROUTE: the receiver may forward the request to the key's owner. Only clients set it, and only on requests;
    /// a node forwarding a request never does, so a forwarded request is always served where it lands. Without it
    /// the receiver serves the request itself.
    public static let route = FrameFlags(rawValue: 1 << 0)

    /// The bits a frame must not set: every bit but ROUTE.
    public static let reserved = FrameFlags(rawValue: ~FrameFlags.route.rawValue)
}

/// The fixed fields of a frame after its length: kind, flags and id.
///
/// The length field is not stored: it follows from the payload (6 + payload length).
public struct FrameHeader: Hashable, Sendable {
    /// The bytes before the payload: length (4), kind (1), flags (1), id (4).
    public static let byteCount = 10
    /// The bytes the length field counts besides the payload: kind, flags and id.
    public static let lengthOverhead = 6
    /// The bytes of the tag that ends every frame of an authenticated connection, counted in its length.
    public static let tagByteCount = 16

    /// What the frame carries.
    public var kind: FrameKind
    /// ROUTE and the reserved bits.
    public var flags: FrameFlags
    /// The request's id, chosen by the requester and echoed by the reply; nonzero except on an ERROR frame that
    /// precedes a close.
    public var id: UInt32

    /// Creates a header.
    public init(kind: FrameKind, flags: FrameFlags = [], id: UInt32) {
        self.kind = kind
        self.flags = flags
        self.id = id
    }
}
