import Crypto
import Foundation
public import GroupCacheWire

/// Which way a frame travels, the first byte a tag covers: a frame sent back the other way does not verify.
public enum FrameDirection: UInt8, Sendable {
    /// From the side that opened the connection.
    case toServer = 1
    /// From the side that accepted it.
    case toClient = 2
}

/// The tags of one direction of an authenticated connection: each is the first 16 bytes of
/// HMAC-SHA256(K, direction ‖ frames tagged before it in that direction, as 8 bytes ‖ the frame up to its tag),
/// where the frame's length field counts the tag (length = 6 + payload + 16). A frame altered, replayed,
/// reordered or sent back the other way does not verify. The sealer and the opener of a direction each keep one.
struct TagStream: Sendable {
    let key: SessionKey
    let direction: FrameDirection
    /// Frames tagged so far.
    private(set) var count: UInt64 = 0

    /// Lends `body` the tag of `frame` as the next frame of this direction, without counting it.
    func withTag<Result>(of frame: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var mac = key.keyed
        withUnsafeTemporaryAllocation(byteCount: 9, alignment: 1) { prefix in
            prefix[0] = direction.rawValue
            for index in 0..<8 { prefix[1 + index] = UInt8(truncatingIfNeeded: count >> (56 - 8 * index)) }
            mac.update(data: UnsafeRawBufferPointer(prefix))
        }
        mac.update(data: frame)
        return mac.finalize().withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0.prefix(FrameHeader.tagByteCount))) }
    }

    mutating func advance() { count += 1 }
}

/// Adds tags to the frames one side of an authenticated connection sends, counting them. Frames must be sealed
/// in the order they go out.
///
/// Concurrency: a value type; its owner seals under the lock that orders its writes.
public struct FrameSealer: Sendable {
    private var stream: TagStream

    init(key: SessionKey, direction: FrameDirection) {
        stream = TagStream(key: key, direction: direction)
    }

    /// The direction this side sends in.
    public var direction: FrameDirection { stream.direction }
    /// Frames sealed so far.
    public var count: UInt64 { stream.count }

    /// Returns `frames` (one or more whole frames, as encoded) with each frame's length grown by the tag and its
    /// tag appended.
    public mutating func seal(_ frames: [UInt8]) -> [UInt8] {
        var sealed: [UInt8] = []
        sealed.reserveCapacity(frames.count + FrameHeader.tagByteCount)
        var offset = 0
        while offset < frames.count {
            precondition(frames.count - offset >= FrameHeader.byteCount, "a sealer takes whole frames")
            let length = Int(frames[offset]) << 24 | Int(frames[offset + 1]) << 16 | Int(frames[offset + 2]) << 8
                | Int(frames[offset + 3])
            let end = offset + 4 + length
            precondition(end <= frames.count, "a sealer takes whole frames")
            let start = sealed.count
            sealed.append(contentsOf: frames[offset..<end])
            let tagged = UInt32(length + FrameHeader.tagByteCount)
            for index in 0..<4 { sealed[start + index] = UInt8(truncatingIfNeeded: tagged >> (24 - 8 * index)) }
            let tag = sealed.withUnsafeBytes { stream.withTag(of: UnsafeRawBufferPointer(rebasing: $0[start...])) { Array($0) } }
            sealed.append(contentsOf: tag)
            stream.advance()
            offset = end
        }
        return sealed
    }
}

/// Checks the tags of the frames one side of an authenticated connection receives, counting them; a
/// ``FrameParser`` given one with ``FrameParser/requireTags(_:)`` checks every frame before it hands it out.
///
/// Concurrency: a value type, owned by the connection's reader.
public struct FrameOpener: FrameVerifier {
    private var stream: TagStream

    init(key: SessionKey, direction: FrameDirection) {
        stream = TagStream(key: key, direction: direction)
    }

    /// The direction the frames it checks travel in.
    public var direction: FrameDirection { stream.direction }
    /// Frames verified so far.
    public var count: UInt64 { stream.count }

    /// Whether `tag` is the tag of `frame` (its bytes from the length field to the end of the payload) as the
    /// next frame in this direction; counts it if so. Compared in constant time.
    public mutating func verify(_ frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> Bool {
        let matches = stream.withTag(of: frame) { Handshake.constantTimeEqual($0, tag) }
        if matches { stream.advance() }
        return matches
    }
}
