import GroupCacheLock
import GroupCacheWire

// The reader thread of a ClientConnection: it waits in poll(2), reads replies into the parser's buffer and hands
// them to their callers.
extension ClientConnection {
    /// The reader thread: waits for replies and hands them out until the connection closes (a close shuts the
    /// socket down, which wakes the poll).
    func readReplies() {
        while state.withLock({ $0.machine.closeReason == nil }) {
            do {
                try socket.waitReadable()
                readable()
            } catch {
                close(reason: "\(error)", failure: .broke)
            }
        }
        sideEnded()
    }

    /// Reads what the socket has, straight into the parser's buffer, and hands out the complete replies after
    /// each read, so that a caller waits for its own reply, not for a batch of reads. A GET_REPLY is decoded in
    /// the buffer, so its value is copied once, into the caller's array; frames are taken after every read, so
    /// the buffer holds at most one partial frame when the next read lands.
    private func readable() {
        for _ in 0..<16 {
            let (replies, failure, more) = readOnce()
            if !replies.isEmpty || more {
                // A reply nobody awaits any more (its caller left, or it answers a PING) is dropped. Bytes of a
                // frame still partial count too: a peer sending a large value is alive.
                let waiting = state.withLock { state -> [(Waiter, Reply)] in
                    state.machine.received(now: .now)
                    return replies.compactMap { id, reply in state.machine.take(id).map { ($0, reply) } }
                }
                Handoff.release(self)
                for (waiter, reply) in waiting { waiter.resume(returning: reply) }
            }
            if let failure {
                close(reason: failure.reason, failure: failure.cause)
                return
            }
            guard more else { return }
        }
    }

    /// One read and the replies it completed; `more` when the read filled its room, so that more may be waiting.
    private func readOnce() -> (replies: [(UInt32, Reply)], failure: (reason: String, cause: Failure)?, more: Bool) {
        parser.withLock { parser in
            var outcome = ReadResult.wouldBlock
            var readError: SocketError?
            var room = 0
            _ = parser.receive(atLeast: Self.readSize) { buffer in
                room = buffer.count
                do throws(SocketError) {
                    outcome = try socket.read(into: buffer)
                } catch {
                    readError = error
                }
                if case .bytes(let count) = outcome { return count }
                return 0
            }
            var replies: [(UInt32, Reply)] = []
            do {
                while try parser.nextFrame({ header, payload in replies.append((header.id, Reply(header: header, payload: payload))) }) {
                    guard let (id, reply) = replies.last, id == 0 else { continue }
                    var message = "no reason given"
                    var cause = Failure.refused
                    if case .frame(let frame) = reply, let error = try? ErrorResponse.decode(from: frame.payload) {
                        message = error.message
                        if error.code == .unauthenticated { cause = .unauthenticated }
                    }
                    return (Array(replies.dropLast()), ("the peer closed the connection: \(message)", cause), false)
                }
            } catch let error as WireError {
                return (replies, ("the peer sent a bad frame: \(error)", error.code == .unauthenticated ? .unauthenticated : .broke), false)
            } catch {
                return (replies, ("the peer sent a bad frame: \(error)", .broke), false)
            }
            if let readError { return (replies, ("\(readError)", .broke), false) }
            switch outcome {
            case .bytes(let count): return (replies, nil, count == room)
            case .wouldBlock: return (replies, nil, false)
            case .endOfInput: return (replies, ("the peer closed the connection", .broke), false)
            }
        }
    }
}
