import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
import GroupCacheLock
#endif

/// A TCP proxy in front of one node, on blocking sockets and threads of its own, that can hang: while hung it
/// reads nothing from either side and forwards nothing, with every connection left open, as a frozen host or a
/// partition looks to its peers (no RST, no refusal). New connections are accepted (the kernel would accept them
/// into the backlog anyway) and wait too.
final class FaultProxy: Sendable {
    let port: Int
    private let target: Int
    private let listener: Int32
    private let hung = Lock(false)
    private let connections = Lock<[Int32]>([])

    init(to target: Int) {
        self.target = target
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        listen(listener, 64)
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in connections.withLock({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Stops forwarding (`true`) or forwards again, with whatever waited (`false`).
    func setHung(_ value: Bool) { hung.withLock { $0 = value } }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                close(client)
                close(server)
                continue
            }
            connections.withLock { $0 += [client, server] }
            let ended = Atomic(0)
            for (from, to) in [(client, server), (server, client)] {
                Thread { [self] in
                    pump(from: from, to: to)
                    // The second pump to end closes both sockets, so neither is closed under the other.
                    if ended.wrappingAdd(1, ordering: .relaxed).newValue == 2 {
                        connections.withLock { $0.removeAll { $0 == client || $0 == server } }
                        close(client)
                        close(server)
                    }
                }.start()
            }
        }
    }

    /// Forwards bytes from `from` to `to` until either side ends; while hung, reads nothing.
    private func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            while hung.withLock({ $0 }) { usleep(5_000) }
            var ready = pollfd(fd: from, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 20) >= 0 else { break }
            guard ready.revents != 0 else { continue }
            if hung.withLock({ $0 }) { continue }
            let count = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                let wrote = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                guard wrote > 0 else { break }
                sent += wrote
            }
            guard sent == count else { break }
        }
        shutdown(to, Int32(SHUT_WR))
        shutdown(from, Int32(SHUT_RD))
    }
}
