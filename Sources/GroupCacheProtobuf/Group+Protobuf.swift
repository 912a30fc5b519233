public import FoundationEssentials
public import GroupCache
public import SwiftProtobuf

// Typed values through swift-protobuf: Swift's counterpart of Go groupcache's SetProto and its proto sink. A
// module of its own, so that the engine depends on no protobuf library; the bytes on the wire are the message's
// binary encoding, which a Go peer decodes with its own generated code.

extension CacheValue {
    /// Creates a value holding `message`'s binary encoding, expiring at `expiresAt` (`nil`: never). A loader
    /// returns it as Go's `dest.SetProto(message, expire)` would.
    ///
    /// - Throws: `BinaryEncodingError` if the message cannot be encoded (a required field is missing).
    public init(message: some SwiftProtobuf.Message, expiresAt: Date? = nil) throws {
        self.init(try message.serializedBytes() as [UInt8], expiresAt: expiresAt)
    }

    /// Returns the value decoded as a `Message`.
    ///
    /// - Throws: `BinaryDecodingError` if the bytes are not a `Message`.
    public func message<Message: SwiftProtobuf.Message>(as type: Message.Type = Message.self) throws -> Message {
        try Message(serializedBytes: bytes)
    }
}

extension Group {
    /// Returns the value of `key` decoded as a `Message`: ``Group/get(_:timeout:)``, then a decode.
    ///
    /// - Throws: what `get` throws, or `BinaryDecodingError` if the value is not a `Message`.
    public func get<Message: SwiftProtobuf.Message>(
        _ key: CacheKey, as type: Message.Type, timeout: Duration? = nil
    ) async throws -> Message {
        try await get(key, timeout: timeout).message(as: type)
    }
}
