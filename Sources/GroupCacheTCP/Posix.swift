// The errors and the retry rule of every system call the transport makes. Only Socket.swift and
// SocketAddress.swift call the system; everything above them sees a Socket, a ReadResult or a SocketError.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed socket call: which call, and the errno it set.
public struct SocketError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call that failed, such as `connect`.
    public let call: String
    /// The errno it set; 0 when the failure is not the system's (an address that does not resolve).
    public let errno: Int32
    /// More about what was being done.
    public let detail: String

    init(_ call: String, errno: Int32 = Glibc.errno, _ detail: String = "") {
        self.call = call
        self.errno = errno
        self.detail = detail
    }

    /// Whether the process or the system has run out of file descriptors.
    public var isOutOfDescriptors: Bool { errno == EMFILE || errno == ENFILE }

    /// `call: strerror (detail)`.
    public var description: String {
        let reason = errno == 0 ? "failed" : String(cString: strerror(errno))
        return detail.isEmpty ? "\(call): \(reason)" : "\(call): \(reason) (\(detail))"
    }
}

/// What a nonblocking read found.
enum ReadResult: Equatable {
    /// This many bytes were read.
    case bytes(Int)
    /// Nothing to read now.
    case wouldBlock
    /// The peer closed its side.
    case endOfInput
}

enum Posix {
    /// Runs the system call `body` until it is not interrupted (EINTR), and returns its result; `nil` when it
    /// would block (EAGAIN, EWOULDBLOCK).
    ///
    /// - Throws: ``SocketError`` naming `call` and errno for any other failure.
    static func retrying<Result: BinaryInteger>(_ call: String, _ body: () -> Result) throws(SocketError) -> Result? {
        while true {
            let result = body()
            if result >= 0 { return result }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SocketError(call)
            }
        }
    }

    /// `duration` in whole milliseconds, at least 1 and at most `Int32.max`, for poll(2).
    static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return max(1, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }
}
