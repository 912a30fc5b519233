#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A nonblocking TCP socket that owns its descriptor and closes it exactly once, when the last reference goes.
///
/// Closing on release rather than on request is what makes a descriptor safe to use from several threads: a
/// writer that still holds the socket keeps its number from being closed and reused under it, so a frame can
/// never reach another connection's socket. To end a connection early, ``shutdown()`` it: every reader and
/// writer then fails or sees end of input, and the descriptor closes when they let go. A Dispatch source may
/// watch ``descriptor`` as long as whoever owns the source also holds the socket.
///
/// Concurrency: every method may be called from any thread.
final class Socket: Sendable {
    /// The file descriptor, for Dispatch sources and poll(2); never close it.
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        let result = Glibc.close(descriptor)
        // EBADF would mean that something else closed this descriptor, and may have closed another socket's.
        assert(result == 0 || errno != EBADF, "descriptor \(descriptor) was closed behind its Socket")
    }

    /// Opens a listening socket on `host:port` (port 0 picks a free one) and returns it with its port.
    static func listen(host: String, port: Int, backlog: Int32 = 1024) throws(SocketError) -> (socket: Socket, port: Int) {
        let address = try SocketAddress(host: host, port: port, passive: true)
        let socket = try Socket(family: address.family)
        var one: Int32 = 1
        setsockopt(socket.descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        try address.withSockaddr { pointer, length throws(SocketError) in
            guard bind(socket.descriptor, pointer, length) == 0 else { throw SocketError("bind", "\(host):\(port)") }
        }
        guard Glibc.listen(socket.descriptor, backlog) == 0 else { throw SocketError("listen") }
        try socket.setNonblocking()
        return (socket, try SocketAddress.localPort(of: socket.descriptor))
    }

    /// Connects to `host:port` within `timeout`, blocking the calling thread, and returns the connection,
    /// nonblocking with TCP_NODELAY.
    static func connect(host: String, port: Int, timeout: Duration) throws(SocketError) -> Socket {
        let address = try SocketAddress(host: host, port: port, passive: false)
        let socket = try Socket(family: address.family)
        try socket.configureConnection()
        let connected = try address.withSockaddr { pointer, length throws(SocketError) -> Bool in
            if Glibc.connect(socket.descriptor, pointer, length) == 0 { return true }
            guard errno == EINPROGRESS || errno == EINTR else { throw SocketError("connect", "\(host):\(port)") }
            return false
        }
        if !connected { try socket.awaitConnection(timeout: timeout, target: "\(host):\(port)") }
        return socket
    }

    /// Accepts one pending connection, made nonblocking with TCP_NODELAY; `nil` when none is pending.
    func accept() throws(SocketError) -> Socket? {
        while true {
            let accepted: Int32?
            do {
                accepted = try Posix.retrying("accept") { Glibc.accept(descriptor, nil, nil) }
            } catch where error.errno == ECONNABORTED {
                continue
            }
            guard let accepted else { return nil }
            let connection = Socket(descriptor: accepted)
            do {
                try connection.configureConnection()
            } catch {
                continue
            }
            return connection
        }
    }

    /// Reads into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(SocketError) -> ReadResult {
        guard let count = try Posix.retrying("read", { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }) else {
            return .wouldBlock
        }
        return count == 0 ? .endOfInput : .bytes(count)
    }

    /// Writes as much of `bytes` as the socket takes now and returns how much that was (0 if it would block).
    /// Never raises SIGPIPE.
    func write(_ bytes: UnsafeRawBufferPointer) throws(SocketError) -> Int {
        try Posix.retrying("send") { send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) } ?? 0
    }

    /// Waits, blocking the calling thread, until the socket is readable, closed, failed or shut down.
    func waitReadable() throws(SocketError) {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = try Posix.retrying("poll") { poll(&entry, 1, -1) }
    }

    /// Waits, blocking the calling thread for at most `timeout`, until the socket is readable (`forWriting`
    /// false) or writable; returns whether it is.
    func wait(forWriting: Bool = false, timeout: Duration) throws(SocketError) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
        return try Posix.retrying("poll", { poll(&entry, 1, Posix.milliseconds(timeout)) }) ?? 0 > 0
    }

    /// Whether bytes are waiting to be read.
    var hasBytesWaiting: Bool {
        var count: Int32 = 0
        return ioctl(descriptor, UInt(FIONREAD), &count) == 0 && count > 0
    }

    /// A second descriptor of the same socket, so that a write source can watch its own (see the Dispatch notes
    /// in Connection.swift).
    func duplicate() throws(SocketError) -> Socket {
        let copy = fcntl(descriptor, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw SocketError("fcntl(F_DUPFD_CLOEXEC)") }
        return Socket(descriptor: copy)
    }

    /// Stops further sends and receives on the socket (every descriptor of it), waking any reader.
    func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    // MARK: Helpers

    private convenience init(family: Int32) throws(SocketError) {
        let descriptor = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SocketError("socket") }
        self.init(descriptor: descriptor)
    }

    private func setNonblocking() throws(SocketError) {
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else { throw SocketError("fcntl(O_NONBLOCK)") }
    }

    /// TCP keepalive on every connection: after 30 s without traffic the kernel probes every 10 s, and drops
    /// the connection after 3 unanswered probes, so an idle connection to a host that vanished (no RST ever
    /// comes) is found within about a minute, before a request waits on it.
    static let keepalive = (idleSeconds: Int32(30), intervalSeconds: Int32(10), probes: Int32(3))

    private func configureConnection() throws(SocketError) {
        try setNonblocking()
        // Frames are written whole; Nagle would hold a small reply back for the peer's delayed ack.
        setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        setOption(SOL_SOCKET, SO_KEEPALIVE, 1)
        setOption(Int32(IPPROTO_TCP), TCP_KEEPIDLE, Self.keepalive.idleSeconds)
        setOption(Int32(IPPROTO_TCP), TCP_KEEPINTVL, Self.keepalive.intervalSeconds)
        setOption(Int32(IPPROTO_TCP), TCP_KEEPCNT, Self.keepalive.probes)
    }

    /// Sets an integer socket option; a failure leaves the default, which is safe for each option used here.
    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// An integer socket option's value, for tests.
    func option(_ level: Int32, _ name: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, level, name, &value, &length)
        return value
    }

    private func awaitConnection(timeout: Duration, target: String) throws(SocketError) {
        var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        guard let ready = try Posix.retrying("poll", { poll(&entry, 1, Posix.milliseconds(timeout)) }), ready > 0 else {
            throw SocketError("connect", errno: ETIMEDOUT, target)
        }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { throw SocketError("getsockopt") }
        guard error == 0 else { throw SocketError("connect", errno: error, target) }
    }
}
