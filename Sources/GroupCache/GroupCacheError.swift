/// An error from a group or from a peer, with a code to match on and a message for people.
///
/// Match on ``code``: `catch let error as GroupCacheError where error.code == .notFound`. New codes may be
/// added without breaking callers.
public struct GroupCacheError: Error, Hashable, Sendable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notFound, loadFailed, deadlineExceeded, noSuchGroup, duplicateGroup
            case peersFailed, peerUnavailable, peerProtocol, unsupported, tooLarge, badRequest, internalError
            case unauthenticated
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The loader said the key does not exist. Loaders throw ``GroupCacheError/notFound(_:)`` to say so.
        public static let notFound = Code(.notFound)
        /// The owner's loader failed; the message carries its description.
        public static let loadFailed = Code(.loadFailed)
        /// The caller's deadline passed before a value arrived.
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// No group of that name is registered (here or at a peer).
        public static let noSuchGroup = Code(.noSuchGroup)
        /// A group of that name is already registered.
        public static let duplicateGroup = Code(.duplicateGroup)
        /// Some peers failed a remove or set; ``GroupCacheError/failures`` names each.
        public static let peersFailed = Code(.peersFailed)
        /// A peer could not be reached, refused, or went away.
        public static let peerUnavailable = Code(.peerUnavailable)
        /// Authentication with a peer failed: it refused this node's cluster secret, or could not prove it holds
        /// one, or requires one this node does not have. The get loads locally.
        public static let unauthenticated = Code(.unauthenticated)
        /// A peer answered with something this node cannot understand.
        public static let peerProtocol = Code(.peerProtocol)
        /// A peer does not implement the request.
        public static let unsupported = Code(.unsupported)
        /// A request or value exceeds a configured limit.
        public static let tooLarge = Code(.tooLarge)
        /// A request is malformed.
        public static let badRequest = Code(.badRequest)
        /// Something failed that should not have.
        public static let internalError = Code(.internalError)

        /// The code's name.
        public var description: String { "\(base)" }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What happened, for people.
    public let message: String
    /// For ``Code/peersFailed``: every peer that failed, with its error; empty otherwise.
    public let failures: [PeerFailure]
    /// The ID of the peer whose failure this is, when a peer failed rather than this node: the one that could
    /// not be reached or did not answer in time, or the owner whose loader failed. `nil` for this node's own
    /// failures (its loader, its limits).
    public let peerID: String?

    /// Creates an error, of the peer `peerID` when a peer failed.
    public init(_ code: Code, _ message: String, failures: [PeerFailure] = [], peerID: String? = nil) {
        self.code = code
        self.message = message
        self.failures = failures
        self.peerID = peerID
    }

    /// This error, naming `peerID` as the peer that failed unless it names one already.
    public func naming(_ peerID: String) -> GroupCacheError {
        guard self.peerID == nil else { return self }
        return GroupCacheError(code, message, failures: failures, peerID: peerID)
    }

    /// The error a loader throws to say that `key` does not exist. It reaches every waiting caller and is never
    /// cached.
    public static func notFound(_ key: CacheKey) -> GroupCacheError {
        GroupCacheError(.notFound, "key \(key) not found")
    }

    /// Whether a peer's error goes back to the caller as it is, rather than counting as a peer error that a
    /// local load replaces: the loader's own verdicts (not found, load failed) and cancellation.
    static func isCallerVisible(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? GroupCacheError else { return false }
        return error.code == .notFound || error.code == .loadFailed
    }
}

/// One peer's failure during a remove or set.
public struct PeerFailure: Hashable, Sendable, CustomStringConvertible {
    /// The peer's ID.
    public let peerID: String
    /// The peer's error, described.
    public let message: String

    /// Creates a failure record.
    public init(peerID: String, message: String) {
        self.peerID = peerID
        self.message = message
    }

    /// `peerID: message`.
    public var description: String { "\(peerID): \(message)" }
}

extension GroupCacheError: CustomStringConvertible {
    /// The code and message, and every peer failure.
    public var description: String {
        guard !failures.isEmpty else { return "\(code): \(message)" }
        return "\(code): \(message) (" + failures.map(\.description).joined(separator: "; ") + ")"
    }
}
