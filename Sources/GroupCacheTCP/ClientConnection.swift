import Dispatch
import Foundation
import GroupCache
import GroupCacheWire
import Synchronization

/// One connection to a peer, carrying many requests at once: each gets a fresh id, and replies, in any order,
/// are matched back by id. A thread of the connection's own waits in poll(2), parses replies and resumes their
/// callers (measured against a Dispatch read source: 5.3-5.7 context switches per request instead of 7-8, and
/// no multi-millisecond p99); requests go out through the ``ConnectionWriter``. A pool keeps few connections
/// per peer, so the threads stay few.
///
/// A caller that is cancelled or whose deadline passes stops waiting at once; its reply, if it comes, is dropped.
/// When the connection fails, every caller still waiting gets ``GroupCacheError/Code/peerUnavailable``.
///
/// Concurrency: every method may be called from any task. State sits behind locks that are never held across
/// a syscall another thread waits on: `reader` (the parser; only the reader thread takes it), `state` (the
/// callers waiting, by id) and the writer's own. A waiter is resumed by whoever removes it from
/// `state.pending`, so exactly once.
final class ClientConnection: Sendable {
    /// The error a request gets when its connection was found closed before any byte of it was written, so it
    /// is safe to send again on another connection.
    struct ClosedBeforeWrite: Error {}

    /// Unsafe rather than checked (one allocation fewer per request): every waiter lives in `pending` and is
    /// resumed only by whoever removes it from there under the state lock, so exactly once.
    private typealias Waiter = UnsafeContinuation<Frame, any Error>

    private struct Pending {
        var waiter: Waiter
        var deadline: ContinuousClock.Instant
    }

    private struct Reader {
        var parser: FrameParser
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
    }

    private struct Locked {
        var pending: [UInt32: Pending] = [:]
        var nextID: UInt32 = 1
        var timer: (any DispatchSourceTimer)?
        var timerDeadline: ContinuousClock.Instant?
        var closeReason: String?
        var cancelledSources = 0
        var lastActivity = ContinuousClock.now
    }

    /// The peer, for messages.
    let peerID: String
    private let socket: Socket
    private let writer: ConnectionWriter
    private let reader: Mutex<Reader>
    private let state = Mutex(Locked())
    private let onClose: @Sendable (ClientConnection) -> Void
    /// The limits the peer reads with, which this side checks before it sends.
    private let limits: FrameLimits

    init(
        socket: Socket, peerID: String, limits: FrameLimits, queue: DispatchQueue,
        onClose: @escaping @Sendable (ClientConnection) -> Void
    ) throws(SocketError) {
        self.socket = socket
        self.writer = ConnectionWriter(socket: try socket.duplicate(), queue: queue)
        self.peerID = peerID
        self.onClose = onClose
        self.reader = Mutex(Reader(parser: FrameParser(limits: limits)))
        self.limits = limits
        writer.start({ [self] event in
            if case .failed(let error) = event { close(reason: "writing to the peer failed: \(error)") }
        }, cancelled: { [self] in sourceCancelled() })
        state.withLock { state in
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [self] in expireOverdue() }
            state.timer = timer
            timer.activate()
        }
        // Replies are read on a thread that blocks in poll(2): a reply then wakes one thread, which resumes its
        // caller, where a Dispatch read source wakes two (the event thread, then a handler thread).
        let reader = Thread { [self] in readReplies() }
        reader.name = "groupcache.client \(peerID)"
        reader.start()
    }

    /// Requests in flight.
    var inFlight: Int { state.withLock { $0.pending.count } }

    /// Whether the connection has failed or been closed.
    var isClosed: Bool { state.withLock { $0.closeReason != nil } }

    /// Sends a request whose frame `encode` appends for the given id, and returns the reply frame (its success
    /// kind or ERROR).
    ///
    /// - Throws: ``GroupCacheError`` `tooLarge` if the frame is over the limits the peer reads with: it is not
    ///   sent, since the peer would close the connection and fail every other request on it;
    ///   ``ClosedBeforeWrite`` if the connection was closed before any byte was written;
    ///   ``GroupCacheError`` `peerUnavailable` if it fails later, `deadlineExceeded` at `deadline`;
    ///   `CancellationError`.
    func request(
        deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Frame {
        let slot = Mutex<UInt32?>(nil)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (waiter: Waiter) in
                let registered = state.withLock { state -> Result<UInt32, any Error> in
                    guard state.closeReason == nil else { return .failure(ClosedBeforeWrite()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var id = state.nextID
                    while id == 0 || state.pending[id] != nil { id &+= 1 }
                    state.nextID = id &+ 1
                    state.pending[id] = Pending(waiter: waiter, deadline: deadline)
                    state.lastActivity = .now
                    slot.withLock { $0 = id }
                    scheduleTimer(&state, for: deadline)
                    return .success(id)
                }
                let id: UInt32
                switch registered {
                case .success(let registeredID): id = registeredID
                case .failure(let error):
                    waiter.resume(throwing: error)
                    return
                }
                var frame: [UInt8] = []
                encode(id, &frame)
                let kind = FrameKind(rawValue: frame[4])
                let payload = frame.count - FrameHeader.byteCount
                guard payload <= limits.maxPayloadBytes(for: kind) else {
                    let pending = state.withLock { $0.pending.removeValue(forKey: id) }
                    pending?.waiter.resume(
                        throwing: GroupCacheError(
                            .tooLarge,
                            "a \(kind) of \(payload) payload bytes to peer \(peerID) is over the limit of \(limits.maxPayloadBytes(for: kind))"))
                    return
                }
                guard writer.send(frame) else {
                    // Nothing of it went out: the caller may send it again elsewhere, unless the close got to
                    // the waiter first.
                    let pending = state.withLock { $0.pending.removeValue(forKey: id) }
                    close(reason: "writing to the peer failed")
                    pending?.waiter.resume(throwing: ClosedBeforeWrite())
                    return
                }
            }
        } onCancel: {
            // Read under the state lock: the id is either not yet assigned, and then the request sees the
            // cancellation itself, or assigned, and then it is here.
            if let id = state.withLock({ _ in slot.withLock { $0 } }) { fail(id, with: CancellationError()) }
        }
    }

    // MARK: Reading replies

    /// The reader thread: waits for replies and hands them out until the connection closes.
    private func readReplies() {
        while state.withLock({ $0.closeReason == nil }) {
            // A timeout, so that a close the poll does not see (none is known on a connected socket) still ends
            // the thread within 5 s.
            do {
                if try socket.waitReadable(timeout: .seconds(5)) { readable() }
            } catch {
                close(reason: "\(error)")
            }
        }
        sourceCancelled()
    }

    private func readable() {
        var failure: String?
        let frames = reader.withLock { reader -> [Frame] in
            readLoop: for _ in 0..<16 {
                let result: ReadResult
                do {
                    result = try reader.scratch.withUnsafeMutableBytes { buffer throws(SocketError) in
                        try socket.read(into: buffer)
                    }
                } catch {
                    failure = "\(error)"
                    break
                }
                switch result {
                case .bytes(let count):
                    reader.scratch.withUnsafeBytes { reader.parser.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    if count < reader.scratch.count { break readLoop }
                case .wouldBlock:
                    break readLoop
                case .endOfInput:
                    failure = "the peer closed the connection"
                    break readLoop
                }
            }
            var frames: [Frame] = []
            do {
                while let frame = try reader.parser.next() {
                    if frame.id == 0 {
                        let message = (try? ErrorResponse.decode(from: frame.payload))?.message ?? "no reason given"
                        failure = "the peer closed the connection: \(message)"
                        break
                    }
                    frames.append(frame)
                }
            } catch {
                failure = "the peer sent a bad frame: \(error)"
            }
            return frames
        }
        if !frames.isEmpty {
            // A reply nobody awaits any more (its caller left) is dropped.
            let replies = state.withLock { state -> [(Waiter, Frame)] in
                state.lastActivity = .now
                return frames.compactMap { frame in state.pending.removeValue(forKey: frame.id).map { ($0.waiter, frame) } }
            }
            for (waiter, frame) in replies { waiter.resume(returning: frame) }
        }
        if let failure { close(reason: failure) }
    }

    // MARK: Deadlines

    /// Makes the timer fire by `deadline` if it would fire later. Called under the state lock.
    private func scheduleTimer(_ state: inout Locked, for deadline: ContinuousClock.Instant) {
        if let current = state.timerDeadline, current <= deadline { return }
        state.timerDeadline = deadline
        let delay = max(.zero, deadline - .now)
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        state.timer?.schedule(deadline: .now() + .nanoseconds(Int(nanoseconds)), leeway: .milliseconds(1))
    }

    private func expireOverdue() {
        let now = ContinuousClock.now
        let overdue = state.withLock { state -> [Waiter] in
            state.timerDeadline = nil
            var overdue: [Waiter] = []
            var next: ContinuousClock.Instant?
            for (id, pending) in state.pending {
                if pending.deadline <= now {
                    overdue.append(pending.waiter)
                    state.pending[id] = nil
                } else if next == nil || pending.deadline < next! {
                    next = pending.deadline
                }
            }
            if let next { scheduleTimer(&state, for: next) }
            return overdue
        }
        let error = GroupCacheError(.deadlineExceeded, "peer \(peerID) did not answer in time")
        for waiter in overdue { waiter.resume(throwing: error) }
    }

    private func fail(_ id: UInt32, with error: any Error) {
        let waiter = state.withLock { $0.pending.removeValue(forKey: id)?.waiter }
        waiter?.resume(throwing: error)
    }

    // MARK: Closing

    /// Closes the connection if nothing is in flight and nothing has crossed it for `idleTimeout`. Decided under
    /// the lock that requests register under, so a request is never caught by the close: it either came first
    /// (and the connection stays) or finds the connection closed before writing (and is retried elsewhere).
    func closeIfIdle(for idleTimeout: Duration, now: ContinuousClock.Instant) {
        let closed = state.withLock { state -> Bool in
            guard state.closeReason == nil, state.pending.isEmpty, now - state.lastActivity > idleTimeout else {
                return false
            }
            _ = closeLocked(&state, reason: "idle for \(idleTimeout)")
            return true
        }
        if closed { writer.close() }
    }

    /// Closes the connection; every caller still waiting gets `peerUnavailable` with `reason`.
    func close(reason: String) {
        let waiters = state.withLock { closeLocked(&$0, reason: reason) }
        writer.close()
        let error = GroupCacheError(.peerUnavailable, "peer \(peerID): \(reason)")
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Marks the connection closed and cancels the read side; returns the callers to fail. Under the state lock.
    private func closeLocked(_ state: inout Locked, reason: String) -> [Waiter] {
        guard state.closeReason == nil else { return [] }
        state.closeReason = reason
        socket.shutdown()
        state.timer?.cancel()
        defer { state.pending = [:] }
        return state.pending.values.map(\.waiter)
    }

    private func sourceCancelled() {
        let bothDone = state.withLock { state -> Bool in
            state.cancelledSources += 1
            guard state.cancelledSources == 2 else { return false }
            state.timer = nil
            return true
        }
        if bothDone { onClose(self) }
    }
}
