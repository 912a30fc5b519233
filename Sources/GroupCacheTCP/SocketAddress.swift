#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An IPv4 or IPv6 socket address, resolved from a host and port by getaddrinfo(3).
struct SocketAddress {
    /// `AF_INET` or `AF_INET6`.
    let family: Int32
    /// The `sockaddr_in` or `sockaddr_in6`, copied out of getaddrinfo's list.
    private let bytes: [UInt8]

    /// Resolves `host` (a name, an IPv4 address, or an IPv6 address with or without brackets; empty for any
    /// address) and `port` to its first address; `passive` for an address to bind.
    init(host: String, port: Int, passive: Bool) throws(SocketError) {
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
        family = first.pointee.ai_family
        bytes = Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
    }

    /// Whether this is a loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address.
    var isLoopback: Bool {
        bytes.withUnsafeBytes { raw in
            if family == AF_INET {
                let address = raw.load(as: sockaddr_in.self).sin_addr.s_addr
                return UInt32(bigEndian: address) >> 24 == 127
            }
            guard family == AF_INET6 else { return false }
            let address = withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            let mapped = address[..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])
            return address == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1] || mapped && address[12] == 127
        }
    }

    /// Calls `body` with the address as a `sockaddr` and its length.
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

    /// The port a bound socket `descriptor` listens on.
    static func localPort(of descriptor: Int32) throws(SocketError) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
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
}
