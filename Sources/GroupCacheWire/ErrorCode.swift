/// The reason code an ERROR frame carries, in ``ErrorResponse/code``.
///
/// A struct rather than an enum because a peer may send codes this build does not know; they are kept as raw
/// values. The numbers are the contract and never change meaning.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The number on the wire.
    public let rawValue: UInt32

    /// Wraps a number from the wire, known or not.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// 1: the key does not exist (the loader said so).
    public static let notFound = ErrorCode(rawValue: 1)
    /// 2: the owner's loader failed; the message says how.
    public static let loadFailed = ErrorCode(rawValue: 2)
    /// 3: the receiver has no group of that name.
    public static let noSuchGroup = ErrorCode(rawValue: 3)
    /// 4: the request was malformed.
    public static let badRequest = ErrorCode(rawValue: 4)
    /// 5: the request, or the value it produced, exceeds a limit.
    public static let tooLarge = ErrorCode(rawValue: 5)
    /// 6: the receiver cannot serve now (shutting down, overloaded).
    public static let unavailable = ErrorCode(rawValue: 6)
    /// 7: something failed at the receiver that should not have.
    public static let internalError = ErrorCode(rawValue: 7)
    /// 8: the receiver does not implement this frame kind.
    public static let unsupported = ErrorCode(rawValue: 8)

    /// 9: the sender has not authenticated: no handshake, a wrong secret, or a frame whose tag did not match.
    /// Sent just before the connection closes.
    public static let unauthenticated = ErrorCode(rawValue: 9)
    /// The protocol name (`NOT_FOUND`, …), or `code N` for a number this build does not know.
    public var description: String {
        switch rawValue {
        case 1: "NOT_FOUND"
        case 2: "LOAD_FAILED"
        case 3: "NO_SUCH_GROUP"
        case 4: "BAD_REQUEST"
        case 5: "TOO_LARGE"
        case 6: "UNAVAILABLE"
        case 7: "INTERNAL"
        case 8: "UNSUPPORTED"
        case 9: "UNAUTHENTICATED"
        default: "code \(rawValue)"
        }
    }
}
