import GroupCacheWire

/// A reply as a client connection's reader hands it over: a GET_REPLY decoded in place from the read buffer,
/// so that its value is copied once on its way to the caller, and any other frame as it came.
enum Reply: Sendable {
    case getReply(Result<GetResponse, WireError>)
    case frame(Frame)

    /// The reply's frame kind.
    var kind: FrameKind {
        switch self {
        case .getReply: .getReply
        case .frame(let frame): frame.kind
        }
    }

    /// Takes the frame the parser lends in place: decodes a GET_REPLY, copies anything else.
    init(header: FrameHeader, payload: UnsafeRawBufferPointer) {
        if header.kind == .getReply {
            self = .getReply(Result { () throws(WireError) in try GetResponse.decode(from: payload) })
        } else {
            self = .frame(Frame(header: header, payload: payload.isEmpty ? [] : Array(payload)))
        }
    }
}
