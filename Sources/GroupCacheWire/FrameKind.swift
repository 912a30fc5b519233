/// What a frame carries: its request or reply type, byte 4 of the frame.
///
/// Requests are 0x01–0x7F; the reply to a request has the same kind with the top bit set (GET 0x01 → 0x81), and
/// ERROR (0xFF) may answer any request. A struct rather than an enum so that a kind this build does not know
/// can still be parsed and answered with ERROR ``ErrorCode/unsupported`` while the connection stays open.
public struct FrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The byte on the wire.
    public let rawValue: UInt8

    /// Wraps a byte from the wire, known or not.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// 0x01: fetch a value; payload ``GetRequest``.
    public static let get = FrameKind(rawValue: 0x01)
    /// 0x02: store a value; payload ``SetRequest``.
    public static let set = FrameKind(rawValue: 0x02)
    /// 0x03: remove a key; payload ``RemoveRequest``.
    public static let remove = FrameKind(rawValue: 0x03)
    /// 0x04: remove several keys; payload ``RemoveKeysRequest``.
    public static let removeKeys = FrameKind(rawValue: 0x04)
    /// 0x05: a liveness check; empty payload.
    public static let ping = FrameKind(rawValue: 0x05)
    /// 0x06: ask for every group's counters; empty payload.
    public static let stats = FrameKind(rawValue: 0x06)

    /// 0x07: a step of the handshake that opens an authenticated connection; payload ``Hello``. Only a node with a
    /// cluster secret answers it (docs/PROTOCOL.md, "Authentication"); others answer ERROR UNSUPPORTED.
    public static let hello = FrameKind(rawValue: 0x07)
    /// 0x81: the value; payload ``GetResponse``.
    public static let getReply = FrameKind(rawValue: 0x81)
    /// 0x82: the value was stored; empty payload.
    public static let setReply = FrameKind(rawValue: 0x82)
    /// 0x83: the key was removed (or was absent); empty payload.
    public static let removeReply = FrameKind(rawValue: 0x83)
    /// 0x84: the keys were removed; empty payload.
    public static let removeKeysReply = FrameKind(rawValue: 0x84)
    /// 0x85: the answer to a PING; empty payload.
    public static let pong = FrameKind(rawValue: 0x85)
    /// 0x86: the counters; payload ``StatsResponse``.
    public static let statsReply = FrameKind(rawValue: 0x86)
    /// 0x87: the server's step of the handshake; payload ``Hello``.
    public static let helloReply = FrameKind(rawValue: 0x87)
    /// 0xFF: the request failed; payload ``ErrorResponse``. With id 0, the connection is about to close.
    public static let error = FrameKind(rawValue: 0xFF)

    /// Whether this is a request kind (top bit clear) rather than a reply.
    public var isRequest: Bool { rawValue & 0x80 == 0 }

    /// The kind of a successful reply to this request kind (the top bit set); `nil` for a reply kind.
    public var reply: FrameKind? { isRequest ? FrameKind(rawValue: rawValue | 0x80) : nil }

    /// The protocol name (`GET`, `GET_REPLY`, …, `PONG`, `ERROR`), or `0xNN` for a kind this build does not know.
    public var description: String {
        switch self {
        case .get: "GET"
        case .set: "SET"
        case .remove: "REMOVE"
        case .removeKeys: "REMOVE_KEYS"
        case .ping: "PING"
        case .stats: "STATS"
        case .hello: "HELLO"
        case .getReply: "GET_REPLY"
        case .setReply: "SET_REPLY"
        case .removeReply: "REMOVE_REPLY"
        case .removeKeysReply: "REMOVE_KEYS_REPLY"
        case .pong: "PONG"
        case .statsReply: "STATS_REPLY"
        case .helloReply: "HELLO_REPLY"
        case .error: "ERROR"
        default: "0x" + String(rawValue, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }

    /// Every kind this build knows, requests then replies (for tests).
    static let known: [FrameKind] = [
        .get, .set, .remove, .removeKeys, .ping, .stats, .hello,
        .getReply, .setReply, .removeReply, .removeKeysReply, .pong, .statsReply, .helloReply, .error,
    ]
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
