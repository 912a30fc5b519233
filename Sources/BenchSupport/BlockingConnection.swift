import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain blocking TCP connection to a port on 127.0.0.1 with TCP_NODELAY: the client every comparison in the
/// benchmarks shares (the floor, memcached, Redis, Go groupcache over HTTP), so that only the servers differ.
/// Reads go through a buffer of its own, so that text protocols can read up to a delimiter.
public final class BlockingConnection {
    /// A connection that failed or a server that broke its protocol.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed.
        public var description: String
        /// A failure described by `description`.
        public init(_ description: String) { self.description = description }
    }

    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    /// Connects to `port` on 127.0.0.1.
    public init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure("connect to 127.0.0.1:\(port): \(reason)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
        buffer = .allocate(byteCount: 64 << 10, alignment: 16)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Sends every byte of `bytes`.
    public func send(_ bytes: UnsafeRawBufferPointer) throws {
        var sent = 0
        while sent < bytes.count {
            let count = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure("send: \(String(cString: strerror(errno)))") }
            sent += count
        }
    }

    /// Sends every byte of `bytes`.
    public func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try send($0) }
    }

    /// Reads and drops exactly `count` bytes.
    public func skip(_ count: Int) throws {
        var left = count
        while left > 0 {
            if start == end { try fill() }
            let taken = min(left, end - start)
            start += taken
            left -= taken
        }
    }

    /// Reads exactly `count` bytes.
    public func read(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            if start == end { try fill() }
            let taken = min(count - bytes.count, end - start)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start..<start + taken]))
            start += taken
        }
        return bytes
    }

    /// The indexes of `connections` that can be read without blocking (bytes buffered, or readable on the
    /// socket), waiting until there is at least one.
    public static func readable(_ connections: [BlockingConnection]) throws -> [Int] {
        let buffered = connections.indices.filter { connections[$0].start < connections[$0].end }
        if !buffered.isEmpty { return buffered }
        var descriptors = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        while poll(&descriptors, nfds_t(descriptors.count), -1) < 0 {
            guard errno == EINTR else { throw Failure("poll: \(String(cString: strerror(errno)))") }
        }
        return descriptors.indices.filter { descriptors[$0].revents != 0 }
    }

    /// Reads up to and including the first CR LF, and returns the line without it.
    public func readLine() throws -> String {
        var line: [UInt8] = []
        while true {
            if start == end { try fill() }
            let byte = buffer[start]
            start += 1
            if byte == 0x0A, line.last == 0x0D { return String(decoding: line.dropLast(), as: UTF8.self) }
            line.append(byte)
            if line.count > 64 << 10 { throw Failure("a line longer than 64 KiB") }
        }
    }

    private func fill() throws {
        start = 0
        end = 0
        while true {
            let count = recv(fd, buffer.baseAddress!, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure(count == 0 ? "the server closed the connection" : "recv: \(String(cString: strerror(errno)))") }
            end = count
            return
        }
    }
}
