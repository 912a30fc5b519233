// The one layer that calls the socket API. Every call retries EINTR, reports EAGAIN as "would block", and throws
// a SocketError naming the call and errno; nothing above this file sees a sockaddr.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
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

    /// Whether the peer refused or reset the connection: it is there, but does not (or no longer) serve.
    public var isRefusal: Bool { errno == ECONNREFUSED || errno == ECONNRESET }

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

/// Socket calls on raw descriptors. Descriptors are plain `Int32`s owned by the connection objects, which close
/// each exactly once.
enum Socket {
    /// Opens a nonblocking listening socket on `host:port` (port 0 picks a free one) and returns it with its port.
    static func listen(host: String, port: Int, backlog: Int32 = 1024) throws(SocketError) -> (fd: Int32, port: Int) {
        let address = try resolve(host: host, port: port, passive: true)
        let fd = socket(Int32(address.family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        do throws(SocketError) {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            try address.withSockaddr { pointer, length throws(SocketError) in
                guard bind(fd, pointer, length) == 0 else { throw SocketError("bind", "\(host):\(port)") }
            }
            guard Glibc.listen(fd, backlog) == 0 else { throw SocketError("listen") }
            try setNonblocking(fd)
            return (fd, try localPort(of: fd))
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Accepts one pending connection, made nonblocking with TCP_NODELAY; `nil` when none is pending.
    static func accept(_ listener: Int32) throws(SocketError) -> Int32? {
        while true {
            let fd: Int32?
            do {
                fd = try retrying("accept") { Glibc.accept(listener, nil, nil) }
            } catch where error.errno == ECONNABORTED {
                continue
            }
            guard let fd else { return nil }
            do {
                try configureConnection(fd)
            } catch {
                Glibc.close(fd)
                continue
            }
            return fd
        }
    }

    /// Connects to `host:port` within `timeout` and returns a nonblocking socket with TCP_NODELAY.
    static func connect(host: String, port: Int, timeout: Duration) throws(SocketError) -> Int32 {
        let address = try resolve(host: host, port: port, passive: false)
        let fd = socket(Int32(address.family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        do throws(SocketError) {
            try configureConnection(fd)
            let started = try address.withSockaddr { pointer, length throws(SocketError) -> Bool in
                if Glibc.connect(fd, pointer, length) == 0 { return true }
                guard errno == EINPROGRESS || errno == EINTR else { throw SocketError("connect", "\(host):\(port)") }
                return false
            }
            if !started { try awaitConnection(fd, timeout: timeout, target: "\(host):\(port)") }
            return fd
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Reads into `buffer`.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> ReadResult {
        guard let count = try retrying("read", { Glibc.read(fd, buffer.baseAddress, buffer.count) }) else { return .wouldBlock }
        return count == 0 ? .endOfInput : .bytes(count)
    }

    /// Writes as much of `bytes` as the socket takes now and returns how much that was (0 if it would block).
    /// Never raises SIGPIPE.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int {
        try retrying("send") { send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } ?? 0
    }

    /// Waits up to `milliseconds` for `fd` to be readable (or closed, or failed); returns whether it is.
    static func waitReadable(_ fd: Int32, milliseconds: Int32) throws(SocketError) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return try retrying("poll") { poll(&descriptor, 1, milliseconds) }.map { $0 > 0 } ?? false
    }

    /// Duplicates `fd`, so that a write source can watch its own descriptor (see the Dispatch notes in
    /// ServerConnection.swift).
    static func duplicate(_ fd: Int32) throws(SocketError) -> Int32 {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw SocketError("fcntl(F_DUPFD_CLOEXEC)") }
        return copy
    }

    /// Stops further sends and receives on the socket (every descriptor of it), waking any reader.
    static func shutdown(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Closes `fd`.
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    // MARK: Helpers

    /// Runs the system call `body` until it is not interrupted (EINTR), and returns its result; `nil` when it
    /// would block (EAGAIN, EWOULDBLOCK).
    ///
    /// - Throws: ``SocketError`` naming `call` and errno for any other failure.
    private static func retrying<Result: BinaryInteger>(
        _ call: String, _ body: () -> Result
    ) throws(SocketError) -> Result? {
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

    private static func setNonblocking(_ fd: Int32) throws(SocketError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError("fcntl(O_NONBLOCK)") }
    }

    private static func configureConnection(_ fd: Int32) throws(SocketError) {
        try setNonblocking(fd)
        var one: Int32 = 1
        // Frames are written whole; Nagle would hold a small reply back for the peer's delayed ack.
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func awaitConnection(_ fd: Int32, timeout: Duration, target: String) throws(SocketError) {
        let milliseconds = max(1, Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard let ready = try retrying("poll", { poll(&descriptor, 1, milliseconds) }), ready > 0 else {
            throw SocketError("connect", errno: ETIMEDOUT, target)
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { throw SocketError("getsockopt") }
        guard error == 0 else { throw SocketError("connect", errno: error, target) }
    }

    private static func localPort(of fd: Int32) throws(SocketError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { throw SocketError("getsockname") }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// A resolved address, copied out of getaddrinfo's list.
    private struct Address {
        var family: Int32
        var bytes: [UInt8]

        func withSockaddr<Value>(
            _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SocketError) -> Value
        ) throws(SocketError) -> Value {
            let result = bytes.withUnsafeBytes { raw -> Result<Value, SocketError> in
                do throws(SocketError) {
                    return .success(try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)))
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
    }

    private static func resolve(host: String, port: Int, passive: Bool) throws(SocketError) -> Address {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let unbracketed = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let status = getaddrinfo(unbracketed.isEmpty ? nil : unbracketed, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SocketError("getaddrinfo", errno: 0, "\(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let raw = UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen))
        return Address(family: first.pointee.ai_family, bytes: Array(raw))
    }
}
