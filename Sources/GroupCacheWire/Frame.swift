/// One protocol frame: a header and its payload, the protobuf encoding of the kind's message.
///
/// On the wire (all integers big-endian):
///
/// ```
/// offset size field
/// 0      4    length   bytes after this field: 6 + payload length
/// 4      1    kind
/// 5      1    flags    bit 0 = ROUTE; bits 1-7 reserved, must be zero
/// 6      4    id       nonzero, chosen by the requester; the reply carries the same id
/// 10     n    payload  the protobuf message of this kind (may be empty)
/// ```
///
/// Encoding appends to a caller's buffer, so that many frames can be batched into one write.
public struct Frame: Hashable, Sendable {
    /// Kind, flags and id.
    public var header: FrameHeader
    /// The payload bytes.
    public var payload: [UInt8]

    /// Creates a frame from a header and a payload.
    public init(header: FrameHeader, payload: [UInt8] = []) {
        self.header = header
        self.payload = payload
    }

    /// Creates a frame of `kind` with `id`, `flags` and `payload`.
    public init(kind: FrameKind, flags: FrameFlags = [], id: UInt32, payload: [UInt8] = []) {
        self.init(header: FrameHeader(kind: kind, flags: flags, id: id), payload: payload)
    }

    /// Creates a frame whose payload is `message`, encoded.
    public init(kind: FrameKind, flags: FrameFlags = [], id: UInt32, message: some WireMessage) {
        self.init(kind: kind, flags: flags, id: id, payload: message.encoded())
    }

    /// The frame's kind.
    public var kind: FrameKind { header.kind }
    /// The frame's flags.
    public var flags: FrameFlags { header.flags }
    /// The frame's id.
    public var id: UInt32 { header.id }

    /// Appends the frame's bytes to `buffer`.
    ///
    /// - Precondition: the payload is shorter than 4 GiB − 6 bytes. Limits are for readers; a writer is expected
    ///   to respect its peer's ``FrameLimits`` before building the frame.
    public func encode(to buffer: inout [UInt8]) {
        buffer.reserveCapacity(buffer.count + FrameHeader.byteCount + payload.count)
        Self.appendHeader(header, payloadLength: payload.count, to: &buffer)
        buffer.append(contentsOf: payload)
    }

    /// Returns the frame's bytes.
    public func encoded() -> [UInt8] {
        var buffer: [UInt8] = []
        encode(to: &buffer)
        return buffer
    }

    /// Appends a frame of `kind` whose payload is `message` to `buffer`, without building a ``Frame``.
    public static func encode(
        kind: FrameKind, flags: FrameFlags = [], id: UInt32, message: some WireMessage, to buffer: inout [UInt8]
    ) {
        let start = buffer.count
        appendHeader(FrameHeader(kind: kind, flags: flags, id: id), payloadLength: 0, to: &buffer)
        message.encode(to: &buffer)
        let payloadLength = buffer.count - start - FrameHeader.byteCount
        precondition(
            payloadLength <= Int(UInt32.max) - FrameHeader.lengthOverhead, "a frame's payload must be below 4 GiB")
        let length = UInt32(payloadLength + FrameHeader.lengthOverhead)
        buffer[start] = UInt8(truncatingIfNeeded: length >> 24)
        buffer[start + 1] = UInt8(truncatingIfNeeded: length >> 16)
        buffer[start + 2] = UInt8(truncatingIfNeeded: length >> 8)
        buffer[start + 3] = UInt8(truncatingIfNeeded: length)
    }

    /// Appends a frame of `kind` with an empty payload (PING, an acknowledgement, …) to `buffer`.
    public static func encode(kind: FrameKind, flags: FrameFlags = [], id: UInt32, to buffer: inout [UInt8]) {
        appendHeader(FrameHeader(kind: kind, flags: flags, id: id), payloadLength: 0, to: &buffer)
    }

    private static func appendHeader(_ header: FrameHeader, payloadLength: Int, to buffer: inout [UInt8]) {
        precondition(
            payloadLength <= Int(UInt32.max) - FrameHeader.lengthOverhead, "a frame's payload must be below 4 GiB")
        let length = UInt32(payloadLength + FrameHeader.lengthOverhead)
        let id = header.id
        buffer.append(UInt8(truncatingIfNeeded: length >> 24))
        buffer.append(UInt8(truncatingIfNeeded: length >> 16))
        buffer.append(UInt8(truncatingIfNeeded: length >> 8))
        buffer.append(UInt8(truncatingIfNeeded: length))
        buffer.append(header.kind.rawValue)
        buffer.append(header.flags.rawValue)
        buffer.append(UInt8(truncatingIfNeeded: id >> 24))
        buffer.append(UInt8(truncatingIfNeeded: id >> 16))
        buffer.append(UInt8(truncatingIfNeeded: id >> 8))
        buffer.append(UInt8(truncatingIfNeeded: id))
    }
}
