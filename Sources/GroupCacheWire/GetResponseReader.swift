/// A GET_REPLY payload read in place, beside protobuf-c: the value is the one field a busy client decodes on
/// every fetch, and protobuf-c copies it into allocator memory before Swift copies it again. This reader copies
/// it once, from the payload into the value's array, and allocates nothing else.
///
/// It follows protobuf-c's reading of the same bytes, which the fuzz target `get-reply` checks input by input:
/// fields 1 (`value`, length-delimited), 2 (`minute_qps`, 64-bit, ignored) and 3 (`expire`, varint); the last
/// occurrence of a field wins; unknown fields of wire types 0, 1, 2 and 5 are skipped; a known field of another
/// wire type, a group, wire types 6 and 7, a one-byte tag of field 0, a tag over 5 bytes, a varint over 10
/// bytes, a length over 5 bytes or past the end, and a truncated field are malformed.
struct GetResponseReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The reply's value range within the payload and its expiry.
    mutating func read() throws(WireError) -> (value: Range<Int>?, expire: Int64) {
        var value: Range<Int>?
        var expire: Int64 = 0
        while offset < bytes.count {
            // protobuf-c refuses field 0 only when the tag's first byte says so; a longer tag of field 0 is an
            // unknown field.
            guard bytes[offset] & 0xf8 != 0 else { throw malformed("a field tag names field 0") }
            let tag = try varint(maxBytes: 5, "a field tag")
            let field = UInt32(truncatingIfNeeded: tag >> 3)
            switch (field, tag & 7) {
            case (1, 2): value = try lengthDelimited()
            case (2, 1): try skip(8)
            case (3, 0): expire = Int64(bitPattern: try varint(maxBytes: 10, "expire"))
            case (1, _), (2, _), (3, _): throw malformed("field \(field) has wire type \(tag & 7)")
            case (_, 0): _ = try varint(maxBytes: 10, "an unknown varint")
            case (_, 1): try skip(8)
            case (_, 2): _ = try lengthDelimited()
            case (_, 5): try skip(4)
            default: throw malformed("field \(field) has wire type \(tag & 7), which this protocol does not use")
            }
        }
        return (value, expire)
    }

    private mutating func varint(maxBytes: Int, _ what: String) throws(WireError) -> UInt64 {
        var result: UInt64 = 0
        for index in 0..<maxBytes {
            guard offset < bytes.count else { throw malformed("\(what) is cut off") }
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) &<< UInt64(7 * index)
            if byte < 0x80 { return result }
        }
        throw malformed("\(what) runs over \(maxBytes) bytes")
    }

    private mutating func lengthDelimited() throws(WireError) -> Range<Int> {
        let length = try varint(maxBytes: 5, "a length")
        guard length <= UInt64(bytes.count - offset) else {
            throw malformed("a field of \(length) bytes runs past the payload's end")
        }
        defer { offset += Int(length) }
        return offset..<offset + Int(length)
    }

    private mutating func skip(_ count: Int) throws(WireError) {
        guard bytes.count - offset >= count else { throw malformed("a \(count)-byte field is cut off") }
        offset += count
    }

    private func malformed(_ detail: String) -> WireError {
        WireError(.malformedPayload, "GetResponse does not decode: \(detail)")
    }
}

extension GetResponse: WireMessage {
    /// Appends the protobuf encoding (fields 1 value, 3 expire; both always written) to `buffer`.
    public func encode(to buffer: inout [UInt8]) {
        encodeWithProtobufC(to: &buffer)
    }

    /// Returns the reply that `bytes` encode; an absent value reads as empty, an absent expiry as 0. Read in
    /// place (see ``GetResponseReader``): the value is copied once.
    ///
    /// - Throws: ``WireError/Code/malformedPayload`` for an invalid encoding.
    public static func decode(from bytes: UnsafeRawBufferPointer) throws(WireError) -> GetResponse {
        var reader = GetResponseReader(bytes)
        let (value, expire) = try reader.read()
        return GetResponse(value: value.map { Array(UnsafeRawBufferPointer(rebasing: bytes[$0])) } ?? [], expire: expire)
    }
}
