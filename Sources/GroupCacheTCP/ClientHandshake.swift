import GroupCacheAuth
import GroupCacheWire

/// The client's side of the handshake (docs/PROTOCOL.md, "Authentication"), run on a socket just connected,
/// before the connection takes requests: HELLO, the server's answer, then the proof. It blocks the calling
/// thread, a pool's dialling thread, for at most its timeout.
enum ClientHandshake {
    /// Why the handshake failed.
    struct Failure: Error, CustomStringConvertible {
        /// What happened, for people; never the secret or a tag.
        var description: String
        /// Whether the peer refused the secret or could not prove it (rather than the connection breaking or
        /// timing out).
        var isAuthentication: Bool
    }

    /// Runs the handshake with the first of `secrets`, within `timeout`, and returns the parser that reads the
    /// peer's frames (its tags required; it holds any bytes read past the answer) and the sealer for this
    /// side's frames.
    static func run(
        on socket: Socket, secrets: ClusterSecrets, limits: FrameLimits, timeout: Duration
    ) throws(Failure) -> (parser: FrameParser, sealer: FrameSealer) {
        let deadline = ContinuousClock.now + timeout
        let handshake = Handshake.Client(secrets: secrets)
        try send(Frame(kind: .hello, id: 1, message: handshake.hello), on: socket, by: deadline)
        var parser = FrameParser(limits: limits)
        let answer = try receive(on: socket, into: &parser, by: deadline)
        switch answer.kind {
        case .helloReply where answer.id == 1:
            break
        case .error:
            let error = try? ErrorResponse.decode(from: answer.payload)
            switch error?.code {
            case .unsupported?:
                throw Failure(
                    description: "the peer does not authenticate (it answered HELLO with UNSUPPORTED): it has no cluster secret",
                    isAuthentication: true)
            case .unauthenticated?:
                throw Failure(description: "the peer refused this node's secret: \(error!.message)", isAuthentication: true)
            default:
                throw Failure(
                    description: "the peer answered HELLO with \(error.map { "\($0.code): \($0.message)" } ?? "a bad ERROR")",
                    isAuthentication: false)
            }
        default:
            throw Failure(description: "the peer answered HELLO with a \(answer.kind) frame", isAuthentication: true)
        }
        let finished: (proof: Hello, sealer: FrameSealer, opener: FrameOpener)
        do throws(WireError) {
            finished = try handshake.finish(try Hello.decode(from: answer.payload))
        } catch {
            throw Failure(description: error.message, isAuthentication: true)
        }
        try send(Frame(kind: .hello, id: 2, message: finished.proof), on: socket, by: deadline)
        parser.requireTags(finished.opener)
        return (parser, finished.sealer)
    }

    private static func send(_ frame: Frame, on socket: Socket, by deadline: ContinuousClock.Instant) throws(Failure) {
        let bytes = frame.encoded()
        var offset = 0
        while offset < bytes.count {
            var ready = true
            let start = offset
            let written = bytes.withUnsafeBytes { buffer in
                Result { () throws(SocketError) in try socket.write(UnsafeRawBufferPointer(rebasing: buffer[start...])) }
            }
            do throws(SocketError) {
                offset += try written.get()
                if offset < bytes.count {
                    ready = deadline > .now ? try socket.wait(forWriting: true, timeout: deadline - .now) : false
                }
            } catch {
                throw Failure(description: "the handshake failed: \(error)", isAuthentication: false)
            }
            guard ready else { throw Failure(description: "the handshake timed out while sending", isAuthentication: false) }
        }
    }

    private static func receive(
        on socket: Socket, into parser: inout FrameParser, by deadline: ContinuousClock.Instant
    ) throws(Failure) -> Frame {
        while true {
            do throws(WireError) {
                if let frame = try parser.next() { return frame }
            } catch {
                throw Failure(description: "the peer answered HELLO with a bad frame: \(error)", isAuthentication: false)
            }
            var outcome = ReadResult.wouldBlock
            var failure: SocketError?
            do throws(SocketError) {
                if deadline > .now, try socket.wait(timeout: deadline - .now) {
                    _ = parser.receive(atLeast: 512) { buffer in
                        do throws(SocketError) { outcome = try socket.read(into: buffer) } catch { failure = error }
                        if case .bytes(let count) = outcome { return count }
                        return 0
                    }
                } else {
                    throw SocketError("poll", errno: 0, "the peer did not answer HELLO in time")
                }
            } catch {
                failure = error
            }
            if let failure { throw Failure(description: "the handshake failed: \(failure)", isAuthentication: false) }
            if outcome == .endOfInput {
                throw Failure(description: "the peer closed the connection during the handshake", isAuthentication: false)
            }
        }
    }
}
