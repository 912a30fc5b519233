import GroupCacheWire

/// A request frame, decoded once: what ``RequestHandler`` answers, at once or after waiting.
enum Request: Sendable {
    case get(GetRequest)
    case set(SetRequest)
    case remove(RemoveRequest)
    case removeKeys(RemoveKeysRequest)
    case ping
    case stats
    /// A kind this node does not implement: answered UNSUPPORTED, and the connection stays open.
    case unsupported(FrameKind)

    /// Decodes `frame`'s payload as its kind's message.
    ///
    /// - Throws: ``WireError`` for a payload that does not decode, or a REMOVE_KEYS over `limits`' keys: the
    ///   peer is broken or hostile, and the connection closes after the ERROR.
    init(_ frame: Frame, limits: FrameLimits) throws(WireError) {
        switch frame.kind {
        case .get: self = .get(try GetRequest.decode(from: frame.payload))
        case .set: self = .set(try SetRequest.decode(from: frame.payload))
        case .remove: self = .remove(try RemoveRequest.decode(from: frame.payload))
        case .removeKeys: self = .removeKeys(try RemoveKeysRequest.decode(from: frame.payload, limits: limits))
        case .ping: self = .ping
        case .stats: self = .stats
        default: self = .unsupported(frame.kind)
        }
    }

    /// Whether ROUTE changes how it is served (it runs as the public API does on this node); PING, STATS and
    /// unknown kinds are answered alike with or without it.
    var isRoutable: Bool {
        switch self {
        case .get, .set, .remove, .removeKeys: true
        case .ping, .stats, .unsupported: false
        }
    }
}
