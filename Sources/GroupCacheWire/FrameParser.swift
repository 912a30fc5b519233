/// Splits a byte stream into frames: feed it chunks as they arrive, split anywhere, and take the complete frames.
///
/// ```swift
/// parser.append(chunk)
/// while let frame = try parser.next() { handle(frame) }
/// ```
///
/// The parser checks each header as soon as its bytes are in, before the body is buffered: a length below 6 once
/// the 4 length bytes are in; once all 10 are, a payload over the kind's ``FrameLimits``, reserved flag bits,
/// ROUTE on a reply, and id 0 anywhere but on an
/// ERROR reply are refused with a ``WireError``. It never reserves room for the size a length field claims; the
/// buffer grows only with bytes that actually arrived. After an error the stream cannot be resynchronised: the
/// parser keeps throwing the same error, and the caller should close the connection. An unknown kind is not an
/// error; it is returned like any other frame, so that the caller can answer it with ERROR UNSUPPORTED.
///
/// Cost: a chunk handed over as an array while nothing is buffered is kept without copying; otherwise bytes are
/// appended once. Each payload is copied once, into its frame. Consumed bytes are dropped by advancing a read
/// index, and the buffer is compacted only when the consumed part is at least as large as the rest, so no byte is
/// moved more than once on average.
///
/// Concurrency: a value type with no locking; one reader owns it.
public struct FrameParser: Sendable {
    /// The limits each frame's header is checked against.
    public let limits: FrameLimits

    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: WireError?

    /// A fully consumed buffer larger than this is released rather than kept for reuse.
    private static var largeBuffer: Int { 1 << 20 }

    /// Creates a parser with nothing buffered.
    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
    }

    /// The bytes received and not yet returned as frames: a partial frame, or frames ``next()`` has not taken.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// The size in bytes, header included, of the next frame in the buffer, once its length field is in; `nil`
    /// before. A server sizes its node-wide input budget with it before the frame's body arrives.
    public var nextFrameByteCount: Int? {
        guard buffer.count - readIndex >= 4 else { return nil }
        return 4 + Int(readUInt32(at: readIndex))
    }

    /// Whether the buffer holds at least one complete frame (or a header that ``next()`` will refuse).
    public var hasCompleteFrame: Bool {
        if failure != nil { return true }
        guard let length = nextFrameByteCount else { return false }
        return length < FrameHeader.byteCount ? buffer.count - readIndex >= 4 : buffer.count - readIndex >= length
    }

    /// Adds bytes received from the stream. Keeps `chunk` itself, without copying, when nothing is buffered.
    public mutating func append(_ chunk: [UInt8]) {
        if readIndex == buffer.count {
            buffer = chunk
            readIndex = 0
        } else {
            compactIfWorthwhile()
            buffer.append(contentsOf: chunk)
        }
    }

    /// Adds bytes received from the stream, copying them: what a connection calls with the bytes of one read.
    ///
    /// Concrete rather than generic: a generic parameter is not specialised across the module boundary, and
    /// every read then went through the standard library's generic sequence copy.
    public mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else {
            compactIfWorthwhile()
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes received from the stream, copying them.
    public mutating func append(contentsOf chunk: some Sequence<UInt8>) {
        append(Array(chunk))
    }

    /// Returns the next complete frame, or `nil` if the buffered bytes do not yet hold one.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/frameTooShort``, ``WireError/Code/frameTooLarge``,
    ///   ``WireError/Code/reservedFlags`` or ``WireError/Code/zeroID`` when the next frame's header breaks the
    ///   protocol, as soon as the header is complete (a length below 6 as soon as its 4 bytes are in); and again
    ///   on every later call.
    public mutating func next() throws(WireError) -> Frame? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        guard available >= 4 else { return nil }
        let length = Int(readUInt32(at: readIndex))
        let (header, payloadLength): (FrameHeader, Int)
        do throws(WireError) {
            // A length below 6 is known from the length alone: no need to wait for the rest of the header.
            guard length >= FrameHeader.lengthOverhead else {
                throw WireError(
                    .frameTooShort,
                    "frame length \(length) is below the minimum of \(FrameHeader.lengthOverhead) (kind, flags, id)")
            }
            guard available >= FrameHeader.byteCount else { return nil }
            (header, payloadLength) = try checkedHeader(at: readIndex, length: length)
        } catch {
            failure = error
            throw error
        }
        let frameLength = FrameHeader.byteCount + payloadLength
        guard available >= frameLength else { return nil }

        let payloadStart = readIndex + FrameHeader.byteCount
        let payload = payloadLength == 0 ? [] : Array(buffer[payloadStart..<payloadStart + payloadLength])
        readIndex += frameLength
        if readIndex == buffer.count, buffer.capacity > Self.largeBuffer {
            // Everything is consumed: let go of a large buffer rather than hold it while the peer is idle.
            buffer = []
            readIndex = 0
        }
        return Frame(header: header, payload: payload)
    }

    /// Checks the rest of the header at `offset`, whose `length` field is already read and checked; at least
    /// ``FrameHeader/byteCount`` bytes are buffered there.
    private func checkedHeader(at offset: Int, length: Int) throws(WireError) -> (FrameHeader, payloadLength: Int) {
        let kind = FrameKind(rawValue: buffer[offset + 4])
        let flags = FrameFlags(rawValue: buffer[offset + 5])
        let id = readUInt32(at: offset + 6)

        let payloadLength = length - FrameHeader.lengthOverhead
        let limit = limits.maxPayloadBytes(for: kind)
        guard payloadLength <= limit else {
            throw WireError(
                .frameTooLarge, "\(kind) frame \(id) has a \(payloadLength)-byte payload; the limit is \(limit)")
        }
        guard flags.isDisjoint(with: .reserved) else {
            let hex = String(flags.rawValue, radix: 16)
            throw WireError(.reservedFlags, "\(kind) frame \(id) sets reserved flag bits (flags 0x\(hex))")
        }
        guard kind.isRequest || !flags.contains(.route) else {
            throw WireError(.reservedFlags, "\(kind) frame \(id) sets ROUTE, which only requests may carry")
        }
        guard id != 0 || kind == .error else {
            throw WireError(.zeroID, "\(kind) frame has id 0, which only an ERROR before a close may use")
        }
        return (FrameHeader(kind: kind, flags: flags, id: id), payloadLength)
    }

    private func readUInt32(at offset: Int) -> UInt32 {
        UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16 | UInt32(buffer[offset + 2]) << 8
            | UInt32(buffer[offset + 3])
    }

    /// Drops the consumed bytes when they are at least as many as the unconsumed ones, so each byte is moved at
    /// most once on average and a long-lived partial frame is never shifted repeatedly.
    private mutating func compactIfWorthwhile() {
        guard readIndex > 0, readIndex >= buffer.count - readIndex else { return }
        buffer.removeSubrange(0..<readIndex)
        readIndex = 0
    }
}
