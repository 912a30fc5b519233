/// An error from reading the wire: a frame or a message broke the protocol.
///
/// Match on ``code``: `catch let error where error.code == .frameTooLarge`. An error thrown by ``FrameParser``
/// leaves the stream untrustworthy: the parser stays failed, and the receiver sends an ERROR frame with id 0 and
/// ``errorCode`` and closes the connection. An error from decoding one payload (``Code/malformedPayload``,
/// ``Code/tooManyKeys``) leaves the frame boundaries intact: the receiver answers that request with an ERROR
/// frame carrying its id and ``errorCode``, and keeps the connection. New codes may be added without breaking
/// callers.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of protocol violation this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case malformedPayload, frameTooShort, frameTooLarge, reservedFlags, zeroID, tooManyKeys, unauthenticated
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A payload is not a valid protobuf message of its kind: truncated, a required field missing, a wire
        /// type that does not match the field, or it needed more memory to decode than its decode budget
        /// (2 × payload + 2 MiB) allows.
        public static let malformedPayload = Code(.malformedPayload)
        /// A frame's length field is below 6, the size of kind, flags and id.
        public static let frameTooShort = Code(.frameTooShort)
        /// A frame's payload is longer than ``FrameLimits`` allows for its kind. Detected from the header alone.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// A frame sets a reserved flag bit, or sets ROUTE on a reply.
        public static let reservedFlags = Code(.reservedFlags)
        /// A request, or a reply other than ERROR, carries id 0.
        public static let zeroID = Code(.zeroID)
        /// A REMOVE_KEYS request names more keys than ``FrameLimits/maxRemoveKeys``.
        public static let tooManyKeys = Code(.tooManyKeys)

        /// Authentication failed: a handshake step that is missing, malformed or does not prove the secret, or
        /// a frame whose tag does not match (altered, replayed, reordered, or sent in the other direction).
        public static let unauthenticated = Code(.unauthenticated)
        /// The code's name.
        public var description: String { "\(base)" }
    }

    /// What kind of protocol violation this is.
    public let code: Code
    /// What was wrong, for people: the numbers involved and the limit that was passed.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code to put in the ERROR frame that answers this violation: ``ErrorCode/tooLarge`` for size limits,
    /// ``ErrorCode/unauthenticated`` for authentication, ``ErrorCode/badRequest`` for everything else.
    public var errorCode: ErrorCode {
        switch code {
        case .frameTooLarge, .tooManyKeys: .tooLarge
        case .unauthenticated: .unauthenticated
        default: .badRequest
        }
    }

    /// The code and the message.
    public var description: String { "\(code): \(message)" }
}
