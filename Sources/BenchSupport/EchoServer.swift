import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The floor: a blocking server that answers every `requestBytes`-byte message with `replyBytes` bytes, a thread
/// per connection. Nothing can answer a request of that size over loopback with less work.
public enum EchoServer {
    /// Starts the server on a free port of 127.0.0.1 and returns the port. It runs until the process ends.
    public static func start(requestBytes: Int, replyBytes: Int) throws -> Int {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 128) == 0 else {
            throw BlockingConnection.Failure("echo server: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        Thread {
            while true {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                Thread { serve(fd, requestBytes: requestBytes, replyBytes: replyBytes) }.start()
            }
        }.start()
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Sends a request the size the server expects.
    public static func request(_ connection: BlockingConnection, requestBytes: Int, replyBytes: Int, scratch: [UInt8]) throws {
        try scratch.withUnsafeBytes { try connection.send(UnsafeRawBufferPointer(rebasing: $0[0..<requestBytes])) }
        try connection.skip(replyBytes)
    }

    private static func serve(_ fd: Int32, requestBytes: Int, replyBytes: Int) {
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: requestBytes, alignment: 8)
        let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: replyBytes, alignment: 8)
        reply.initializeMemory(as: UInt8.self, repeating: 0x61)
        defer {
            close(fd)
            request.deallocate()
            reply.deallocate()
        }
        while true {
            var got = 0
            while got < requestBytes {
                let count = recv(fd, request.baseAddress! + got, requestBytes - got, 0)
                if count <= 0 { return }
                got += count
            }
            var sent = 0
            while sent < replyBytes {
                let count = send(fd, reply.baseAddress! + sent, replyBytes - sent, Int32(MSG_NOSIGNAL))
                if count <= 0 { return }
                sent += count
            }
        }
    }
}
