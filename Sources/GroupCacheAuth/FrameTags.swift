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

/// The tag every frame of an authenticated connection ends with: the first 16 bytes of
/// HMAC-SHA256(K, direction ‖ frames sent before it in that direction, as 8 bytes ‖ the frame up to its tag),
/// where the frame's length field counts the tag (length = 6 + payload + 16). A frame altered, replayed,
/// reordered or sent back the other way does not verify.
enum FrameTag {
    static let byteCount = FrameHeader.tagByteCount

    static func compute(
        _ key: SessionKey, _ direction: FrameDirection, _ counter: UInt64, _ frame: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var mac = key.keyed
        var prefix = [UInt8](repeating: 0, count: 9)
        prefix[0] = direction.rawValue
        for index in 0..<8 { prefix[1 + index] = UInt8(truncatingIfNeeded: counter >> (56 - 8 * index)) }
        mac.update(data: prefix)
        mac.update(data: frame)
        return Array(mac.finalize().prefix(byteCount))
    }
}

/// Adds tags to the frames one side of an authenticated connection sends, counting them. Frames must be sealed
/// in the order they go out.
///
/// Concurrency: a value type; its owner seals under the lock that orders its writes.
public struct FrameSealer: Sendable {
    let key: SessionKey
    /// The direction this side sends in.
    public let direction: FrameDirection
    /// Frames sealed so far.
    public private(set) var count: UInt64 = 0

    init(key: SessionKey, direction: FrameDirection) {
        self.key = key
        self.direction = direction
    }

    /// Returns `frames` (one or more whole frames, as encoded) with each frame's length grown by the tag and its
    /// tag appended.
    public mutating func seal(_ frames: [UInt8]) -> [UInt8] {
        var sealed: [UInt8] = []
        sealed.reserveCapacity(frames.count + FrameTag.byteCount)
        var offset = 0
        while offset < frames.count {
            precondition(frames.count - offset >= FrameHeader.byteCount, "a sealer takes whole frames")
            let length = Int(frames[offset]) << 24 | Int(frames[offset + 1]) << 16 | Int(frames[offset + 2]) << 8
                | Int(frames[offset + 3])
            let end = offset + 4 + length
            precondition(end <= frames.count, "a sealer takes whole frames")
            let start = sealed.count
            sealed.append(contentsOf: frames[offset..<end])
            let tagged = UInt32(length + FrameTag.byteCount)
            for index in 0..<4 { sealed[start + index] = UInt8(truncatingIfNeeded: tagged >> (24 - 8 * index)) }
            let tag = sealed.withUnsafeBytes { FrameTag.compute(key, direction, count, UnsafeRawBufferPointer(rebasing: $0[start...])) }
            sealed.append(contentsOf: tag)
            count += 1
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
    let key: SessionKey
    /// The direction the frames it checks travel in.
    public let direction: FrameDirection
    /// Frames verified so far.
    public private(set) var count: UInt64 = 0

    init(key: SessionKey, direction: FrameDirection) {
        self.key = key
        self.direction = direction
    }

    /// Whether `tag` is the tag of `frame` (its bytes from the length field to the end of the payload) as the
    /// next frame in this direction; counts it if so. Compared in constant time.
    public mutating func verify(_ frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> Bool {
        let expected = FrameTag.compute(key, direction, count, frame)
        guard Handshake.constantTimeEqual(expected, Array(tag)) else { return false }
        count += 1
        return true
    }
}
