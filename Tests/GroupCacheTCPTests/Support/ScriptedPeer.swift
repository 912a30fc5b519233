import Foundation
import GroupCacheWire

#if canImport(Glibc)
import Glibc
import GroupCacheLock
#endif

/// A peer that answers frames with a script, on blocking sockets and threads of its own: to play a server this
/// project's server would never be (an older peer without REMOVE_KEYS, say, or one that reads and never answers:
/// `answer` returns `nil`).
final class ScriptedPeer: Sendable {
    let port: Int
    private let listener: Int32
    private final class FrameLog: Sendable {
        let frames = Lock<[Frame]>([])
    }

    private let received = FrameLog()

    init(answer: @escaping @Sendable (Frame) -> Frame?) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(listener, 16)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        let received = self.received
        Thread {
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                Thread {
                    var parser = FrameParser()
                    var buffer = [UInt8](repeating: 0, count: 1 << 16)
                    while true {
                        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                        guard count > 0 else { break }
                        parser.append(Array(buffer[..<count]))
                        while let frame = try? parser.next() {
                            received.frames.withLock { $0.append(frame) }
                            guard let reply = answer(frame)?.encoded() else { continue }
                            _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        }
                    }
                    close(fd)
                }.start()
            }
        }.start()
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// The kinds of the frames received so far, in order.
    var kinds: [FrameKind] { received.frames.withLock { $0.map(\.kind) } }
}
