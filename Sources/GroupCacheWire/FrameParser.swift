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
/// appended once, or read straight into the buffer with ``receive(atLeast:_:)``. ``next()`` copies a payload
/// once, into its frame; ``nextFrame(_:)`` lends it in place. Consumed bytes are dropped by advancing a read
/// index, and the buffer is compacted only when the consumed part is at least as large as the rest, or when
/// room is needed, so no byte is moved more than once on average.
///
/// On an authenticated connection (``requireTags(_:)``) every frame ends with a 16-byte tag, counted in its length:
/// the limits stay on the payload, and each frame's tag is checked before the frame is handed out; a frame whose
/// tag does not match fails the parser with ``WireError/Code/unauthenticated``.
///
/// Concurrency: a value type with no locking; one reader owns it.
public struct FrameParser: Sendable {
    /// The limits each frame's header is checked against.
    public let limits: FrameLimits

    /// Bytes `readIndex..<end` are received and not yet taken; those past `end` are room for more.
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var end = 0
    private var failure: WireError?
    /// Set once the connection is authenticated: every frame from then on carries a tag.
    private var opener: (any FrameVerifier)?
    /// The bytes after each payload: the tag, on an authenticated connection.
    private var trailer: Int { opener == nil ? 0 : FrameHeader.tagByteCount }

    /// A fully consumed buffer larger than this is released rather than kept for reuse.
    private static var largeBuffer: Int { 1 << 20 }

    /// Creates a parser with nothing buffered.
    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
    }

    /// From the next frame on, every frame must end with a tag that `opener` verifies.
    public mutating func requireTags(_ opener: some FrameVerifier) {
        self.opener = opener
    }

    /// Whether frames must carry tags (``requireTags(_:)``).
    public var requiresTags: Bool { opener != nil }

    /// The kind of the next frame, once its byte is in; `nil` before. A server that has not authenticated its
    /// peer refuses anything but HELLO as soon as it sees the kind.
    public var nextFrameKind: FrameKind? {
        end - readIndex >= 5 ? FrameKind(rawValue: buffer[readIndex + 4]) : nil
    }

    /// The bytes received and not yet returned as frames: a partial frame, or frames ``next()`` has not taken.
    public var bufferedByteCount: Int { end - readIndex }

    /// The size in bytes, header included, of the next frame in the buffer, once its length field is in; `nil`
    /// before. A server sizes its node-wide input budget with it before the frame's body arrives.
    public var nextFrameByteCount: Int? {
        guard end - readIndex >= 4 else { return nil }
        return 4 + Int(readUInt32(at: readIndex))
    }

    /// Whether the buffer holds at least one complete frame (or a header that ``next()`` will refuse).
    public var hasCompleteFrame: Bool {
        if failure != nil { return true }
        guard let length = nextFrameByteCount else { return false }
        return length < FrameHeader.byteCount + trailer ? end - readIndex >= 4 : end - readIndex >= length
    }

    /// Adds bytes received from the stream. Keeps `chunk` itself, without copying, when nothing is buffered.
    public mutating func append(_ chunk: [UInt8]) {
        if readIndex == end {
            buffer = chunk
            readIndex = 0
            end = chunk.count
        } else {
            chunk.withUnsafeBytes { append(contentsOf: $0) }
        }
    }

    /// Adds bytes received from the stream, copying them: what a connection calls with the bytes of one read.
    ///
    /// Concrete rather than generic: a generic parameter is not specialised across the module boundary, and
    /// every read then went through the standard library's generic sequence copy.
    public mutating func append(contentsOf bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if buffer.count - end >= bytes.count {
            // Room that ``receive(atLeast:_:)`` made, or that consumed frames left.
            buffer.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: end).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        } else {
            // Grown as Array grows, so that memory is touched only as bytes arrive.
            if readIndex >= end - readIndex { compact() }
            buffer.removeSubrange(end...)
            buffer.append(contentsOf: bytes)
        }
        end += bytes.count
    }

    /// Lets `read` write received bytes straight into the buffer, with room for at least `minimum` bytes, or for
    /// the rest of a partial frame whose header is checked if that is more, so that a large frame lands in one
    /// place; returns what `read` returned, the number of bytes it wrote.
    ///
    /// The room for a partial frame is allocated (and zeroed) before its bytes arrive, as large as the header
    /// claims within the limits: a reader that must hold memory to what actually arrived, such as a server
    /// facing strangers, uses ``append(contentsOf:)`` instead.
    ///
    /// Not generic, and `read` does not throw (a caller keeps its own error): a generic method is not specialised
    /// across the module boundary, and this one runs on every read of a client.
    public mutating func receive(atLeast minimum: Int, _ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        var room = minimum
        if failure == nil, let frame = nextFrameByteCount, frame >= FrameHeader.byteCount,
            bufferedByteCount >= FrameHeader.byteCount, (try? checkedHeader(at: readIndex, length: frame - 4)) != nil
        {
            room = max(room, frame - bufferedByteCount)
        }
        makeRoom(room)
        let end = self.end
        let count = buffer.withUnsafeMutableBytes { read(UnsafeMutableRawBufferPointer(rebasing: $0[end...])) }
        precondition(count >= 0 && count <= buffer.count - end, "a read wrote \(count) bytes into \(buffer.count - end) of room")
        self.end += count
        return count
    }

    /// Adds bytes received from the stream, copying them.
    public mutating func append(contentsOf chunk: some Sequence<UInt8>) {
        append(Array(chunk))
    }

    /// Returns the next complete frame, its payload copied out of the buffer, or `nil` if the buffered bytes do
    /// not yet hold one.
    ///
    /// - Throws: ``WireError`` with ``WireError/Code/frameTooShort``, ``WireError/Code/frameTooLarge``,
    ///   ``WireError/Code/reservedFlags`` or ``WireError/Code/zeroID`` when the next frame's header breaks the
    ///   protocol, as soon as the header is complete (a length below 6 as soon as its 4 bytes are in); and again
    ///   on every later call.
    public mutating func next() throws(WireError) -> Frame? {
        var frame: Frame?
        _ = try nextFrame { header, payload in frame = Frame(header: header, payload: payload.isEmpty ? [] : Array(payload)) }
        return frame
    }

    /// Takes the next complete frame and lends `body` its header and its payload, in place, for the call;
    /// `false` if the buffered bytes do not yet hold a frame. Not generic, for the reason ``receive(atLeast:_:)``
    /// gives.
    ///
    /// - Throws: the errors of ``next()``.
    public mutating func nextFrame(_ body: (FrameHeader, UnsafeRawBufferPointer) -> Void) throws(WireError) -> Bool {
        if let failure { throw failure }
        let available = end - readIndex
        guard available >= 4 else { return false }
        let length = Int(readUInt32(at: readIndex))
        let (header, payloadLength): (FrameHeader, Int)
        do throws(WireError) {
            // A length below 6 is known from the length alone: no need to wait for the rest of the header.
            guard length >= FrameHeader.lengthOverhead + trailer else {
                throw WireError(
                    .frameTooShort,
                    "frame length \(length) is below the minimum of \(FrameHeader.lengthOverhead + trailer) (kind, flags, id"
                        + (trailer > 0 ? ", tag)" : ")"))
            }
            guard available >= FrameHeader.byteCount else { return false }
            (header, payloadLength) = try checkedHeader(at: readIndex, length: length)
        } catch {
            failure = error
            throw error
        }
        let frameLength = FrameHeader.byteCount + payloadLength + trailer
        guard available >= frameLength else { return false }
        if opener != nil {
            let start = readIndex
            let verified = buffer.withUnsafeBytes { buffer in
                opener!.verify(
                    UnsafeRawBufferPointer(rebasing: buffer[start..<start + frameLength - trailer]),
                    tag: UnsafeRawBufferPointer(rebasing: buffer[start + frameLength - trailer..<start + frameLength]))
            }
            guard verified else {
                let error = WireError(
                    .unauthenticated,
                    "\(header.kind) frame \(header.id): its tag does not match (altered, replayed, reordered, or sent "
                        + "in the other direction)")
                failure = error
                throw error
            }
        }

        let payloadStart = readIndex + FrameHeader.byteCount
        buffer.withUnsafeBytes { buffer in
            body(header, UnsafeRawBufferPointer(rebasing: buffer[payloadStart..<payloadStart + payloadLength]))
        }
        readIndex += frameLength
        if readIndex == end {
            // Everything is consumed: start again at the front, and let go of a large buffer rather than hold
            // it while the peer is idle.
            readIndex = 0
            end = 0
            if buffer.capacity > Self.largeBuffer { buffer = [] }
        }
        return true
    }

    /// Checks the rest of the header at `offset`, whose `length` field is already read and checked; at least
    /// ``FrameHeader/byteCount`` bytes are buffered there.
    private func checkedHeader(at offset: Int, length: Int) throws(WireError) -> (FrameHeader, payloadLength: Int) {
        let kind = FrameKind(rawValue: buffer[offset + 4])
        let flags = FrameFlags(rawValue: buffer[offset + 5])
        let id = readUInt32(at: offset + 6)

        let payloadLength = length - FrameHeader.lengthOverhead - trailer
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

    /// Makes room for `count` more bytes after `end`, for a read into place: drops the consumed bytes first when
    /// they are at least as many as the unconsumed ones, or when that alone makes the room, so each byte is moved
    /// at most once on average and a long-lived partial frame is never shifted repeatedly; otherwise grows the
    /// buffer to exactly the room asked for.
    private mutating func makeRoom(_ count: Int) {
        let unconsumed = end - readIndex
        if readIndex > 0, readIndex >= unconsumed || buffer.count - end < count && buffer.count - unconsumed >= count {
            compact()
        }
        guard buffer.count - end < count else { return }
        var grown = [UInt8](repeating: 0, count: unconsumed + count)
        if unconsumed > 0 {
            grown.withUnsafeMutableBytes { grown in
                buffer.withUnsafeBytes { grown.baseAddress!.copyMemory(from: $0.baseAddress! + readIndex, byteCount: unconsumed) }
            }
        }
        buffer = grown
        readIndex = 0
        end = unconsumed
    }

    /// Moves the unconsumed bytes to the front.
    private mutating func compact() {
        let unconsumed = end - readIndex
        if unconsumed > 0 {
            buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + readIndex, byteCount: unconsumed)
            }
        }
        readIndex = 0
        end = unconsumed
    }
}

/// Checks the tag that ends each frame of an authenticated connection: GroupCacheAuth's `FrameOpener`, which
/// ``FrameParser/requireTags(_:)`` takes.
public protocol FrameVerifier: Sendable {
    /// Whether `tag` is the tag of `frame` (its bytes from the length field to the end of the payload) as the
    /// next frame received; counts it if so.
    mutating func verify(_ frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> Bool
}
