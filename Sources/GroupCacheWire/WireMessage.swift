/// A message that travels as a frame's protobuf payload.
///
/// Conformances live in `ProtobufCodec.swift`, the one file that calls protobuf-c. Decoding copies each bytes
/// field once, from protobuf-c's unpacked struct into a Swift array, and spends at most 2 × payload + 2 MiB of
/// memory on the way; a payload that needs more is refused as ``WireError/Code/malformedPayload``. The one
/// exception is ``GetResponse``, which a client decodes on every fetch: it is read in place
/// (`GetResponseReader.swift`), its value copied once and nothing else held.
public protocol WireMessage: Hashable, Sendable {
    /// Appends the message's protobuf encoding to `buffer`.
    func encode(to buffer: inout [UInt8])

    /// Returns the message that `bytes` encode. Unknown fields are skipped.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` if `bytes` are not a valid encoding or need more than the
    ///   decode budget.
    static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> Self
}

extension WireMessage {
    /// Returns the message's protobuf encoding.
    @inlinable
    public func encoded() -> [UInt8] {
        var buffer: [UInt8] = []
        encode(to: &buffer)
        return buffer
    }

    /// Returns the message that `bytes` encode. Unknown fields are skipped.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` if `bytes` are not a valid encoding or need more than the
    ///   decode budget. Inlinable, so that each message type gets its own copy: the generic one instantiated its
    ///   `Result`'s metadata at run time on every reply (seen in perf of a busy client).
    @inlinable
    public static func decode(from bytes: [UInt8]) throws(WireError) -> Self {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Self in try decode(from: raw) }
        }
        return try result.get()
    }
}
