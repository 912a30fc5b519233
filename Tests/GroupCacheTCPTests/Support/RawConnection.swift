import Foundation
import GroupCacheAuth
import GroupCacheWire

#if canImport(Glibc)
import Glibc
import GroupCacheLock
#endif

/// A plain blocking TCP client that speaks frames byte by byte, to drive a server exactly as a test needs
/// (pipelining, broken frames, half-sent frames). Reads run on a thread of their own, never on the cooperative
/// pool, and every read gives up after a timeout.
final class RawConnection: Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let fd: Int32
    private let parser = Lock(FrameParser(limits: FrameLimits()))
    /// Every byte received, for tests that send a server's own frames back to it.
    let received = Lock<[UInt8]>([])

    /// Connects to 127.0.0.1:`port`; a `receiveBuffer` size keeps the kernel from absorbing what the test wants
    /// the server to hold (set before connecting, so the window is sized for it).
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw Failure(description: "connect: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    /// Makes the close send a reset (RST) instead of an orderly end of stream.
    func resetOnClose() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            offset += count
        }
    }

    func send(_ frames: [Frame]) throws {
        var bytes: [UInt8] = []
        for frame in frames { frame.encode(to: &bytes) }
        try send(bytes)
    }

    /// The next frame from the server, or `nil` once it has closed the connection.
    func nextFrame(timeout: Duration = .seconds(10)) async throws -> Frame? {
        if let frame = try parser.withLock({ try $0.next() }) { return frame }
        while true {
            let chunk = try await read(timeout: timeout)
            guard let chunk else { return nil }
            received.withLock { $0.append(contentsOf: chunk) }
            parser.withLock { $0.append(chunk) }
            if let frame = try parser.withLock({ try $0.next() }) { return frame }
        }
    }

    /// Runs the client's side of the handshake with `secrets` and returns the sealer for the frames this side
    /// sends next; from then on the frames read must carry tags.
    func authenticate(with secrets: ClusterSecrets) async throws -> FrameSealer {
        let handshake = Handshake.Client(secrets: secrets)
        try send([Frame(kind: .hello, id: 1, message: handshake.hello)])
        guard let reply = try await nextFrame(), reply.kind == .helloReply else {
            throw Failure(description: "the server did not answer HELLO")
        }
        let (proof, sealer, opener) = try handshake.finish(try Hello.decode(from: reply.payload))
        parser.withLock { $0.requireTags(opener) }
        try send([Frame(kind: .hello, id: 2, message: proof)])
        return sealer
    }

    /// Reads frames until `count` have arrived.
    func frames(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [Frame] {
        var frames: [Frame] = []
        while frames.count < count {
            guard let frame = try await nextFrame(timeout: timeout) else {
                throw Failure(description: "the server closed the connection after \(frames.count) of \(count) frames")
            }
            frames.append(frame)
        }
        return frames
    }

    /// Whether the server closes the connection (after any frames it still sends) within `timeout`.
    func closesWithin(_ timeout: Duration) async throws -> Bool {
        do {
            while try await nextFrame(timeout: timeout) != nil {}
            return true
        } catch let failure as Failure where failure.description.hasPrefix("timed out") {
            return false
        }
    }

    /// One `recv` on a thread of its own: the bytes, `nil` at end of input.
    private func read(timeout: Duration) async throws -> [UInt8]? {
        let fd = self.fd
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
                guard poll(&descriptor, 1, milliseconds) > 0 else {
                    continuation.resume(throwing: Failure(description: "timed out after \(timeout)"))
                    return
                }
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    continuation.resume(returning: Array(buffer[..<count]))
                } else if count == 0 || errno == ECONNRESET {
                    continuation.resume(returning: nil)
                } else {
                    continuation.resume(throwing: Failure(description: "recv: \(String(cString: strerror(errno)))"))
                }
            }
            thread.start()
        }
    }
}
