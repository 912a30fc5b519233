import Dispatch
import GroupCache
import GroupCacheWire
import Synchronization

/// One connection to a peer, carrying many requests at once: each gets a fresh id, and replies, in any order,
/// are matched back by id. A read source parses replies and resumes their callers; requests are written straight
/// to the socket, and only what would block waits behind a write source.
///
/// A caller that is cancelled or whose deadline passes stops waiting at once; its reply, if it comes, is dropped.
/// When the connection fails, every caller still waiting gets ``GroupCacheError/Code/peerUnavailable``.
///
/// Concurrency: every method may be called from any task; all state sits behind one lock.
final class ClientConnection: Sendable {
    /// The error a request gets when its connection was found closed before any byte of it was written, so it
    /// is safe to send again on another connection.
    struct ClosedBeforeWrite: Error {}

    private typealias Waiter = CheckedContinuation<Frame, any Error>

    private struct Pending {
        var waiter: Waiter
        var deadline: ContinuousClock.Instant
    }

    private enum SourceState { case inactive, running, suspended }

    private struct Locked {
        var parser: FrameParser
        var pending: [UInt32: Pending] = [:]
        var nextID: UInt32 = 1
        var readSource: (any DispatchSourceRead)?
        var writeSource: (any DispatchSourceWrite)?
        var writeState = SourceState.inactive
        var timer: (any DispatchSourceTimer)?
        var timerDeadline: ContinuousClock.Instant?
        var output: [UInt8] = []
        var outputOffset = 0
        var closeReason: String?
        var cancelledSources = 0
        var lastActivity = ContinuousClock.now
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
    }

    /// The peer, for messages.
    let peerID: String
    private let fd: Int32
    private let writeFD: Int32
    private let queue: DispatchQueue
    private let state: Mutex<Locked>
    private let onClose: @Sendable (ClientConnection) -> Void

    init(
        fd: Int32, peerID: String, limits: FrameLimits, queue: DispatchQueue,
        onClose: @escaping @Sendable (ClientConnection) -> Void
    ) throws(SocketError) {
        self.fd = fd
        self.writeFD = try Socket.duplicate(fd)
        self.peerID = peerID
        self.queue = queue
        self.onClose = onClose
        self.state = Mutex(Locked(parser: FrameParser(limits: limits)))
        state.withLock { state in
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            read.setEventHandler { [self] in readable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            let write = DispatchSource.makeWriteSource(fileDescriptor: writeFD, queue: queue)
            write.setEventHandler { [self] in writable() }
            write.setCancelHandler { [self] in sourceCancelled() }
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.setEventHandler { [self] in expireOverdue() }
            state.readSource = read
            state.writeSource = write
            state.timer = timer
            timer.activate()
            read.activate()
        }
    }

    /// Requests in flight.
    var inFlight: Int { state.withLock { $0.pending.count } }

    /// Whether the connection has failed or been closed.
    var isClosed: Bool { state.withLock { $0.closeReason != nil } }

    /// When a request or reply last crossed it.
    var lastActivity: ContinuousClock.Instant { state.withLock { $0.lastActivity } }

    /// Sends a request whose frame `encode` appends for the given id, and returns the reply frame (its success
    /// kind or ERROR).
    ///
    /// - Throws: ``ClosedBeforeWrite`` if the connection was closed before any byte was written;
    ///   ``GroupCacheError`` `peerUnavailable` if it fails later, `deadlineExceeded` at `deadline`;
    ///   `CancellationError`.
    func request(
        deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Frame {
        let slot = Mutex<UInt32?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: Waiter) in
                let failure = state.withLock { state -> (any Error)? in
                    guard state.closeReason == nil else { return ClosedBeforeWrite() }
                    if Task.isCancelled { return CancellationError() }
                    var id = state.nextID
                    while id == 0 || state.pending[id] != nil { id &+= 1 }
                    state.nextID = id &+ 1
                    state.pending[id] = Pending(waiter: waiter, deadline: deadline)
                    slot.withLock { $0 = id }
                    scheduleTimer(&state, for: deadline)

                    var frame: [UInt8] = []
                    encode(id, &frame)
                    state.lastActivity = .now
                    if state.outputOffset < state.output.count {
                        state.output.append(contentsOf: frame)
                        return nil
                    }
                    do {
                        let written = try frame.withUnsafeBytes { buffer throws(SocketError) in try Socket.write(fd, buffer) }
                        if written < frame.count {
                            state.output = Array(frame[written...])
                            state.outputOffset = 0
                            armWriteSource(&state)
                        }
                        return nil
                    } catch {
                        state.pending[id] = nil
                        return ClosedBeforeWrite()
                    }
                }
                if let failure {
                    if failure is ClosedBeforeWrite { close(reason: "the connection failed") }
                    waiter.resume(throwing: failure)
                }
            }
        } onCancel: {
            // Read under the state lock: the id is either not yet assigned, and then the request sees the
            // cancellation itself, or assigned, and then it is here.
            if let id = state.withLock({ _ in slot.withLock { $0 } }) { fail(id, with: CancellationError()) }
        }
    }

    // MARK: Reading replies

    private func readable() {
        var replies: [(Waiter, Frame)] = []
        var failure: String?
        state.withLock { state in
            guard state.closeReason == nil else { return }
            readLoop: for _ in 0..<4 {
                let result: ReadResult
                do {
                    result = try state.scratch.withUnsafeMutableBytes { buffer throws(SocketError) in
                        try Socket.read(fd, into: buffer)
                    }
                } catch {
                    failure = "\(error)"
                    break
                }
                switch result {
                case .bytes(let count):
                    state.lastActivity = .now
                    state.scratch.withUnsafeBytes { state.parser.append(contentsOf: $0[..<count]) }
                    if count < state.scratch.count { break readLoop }
                case .wouldBlock:
                    break readLoop
                case .endOfInput:
                    failure = "the peer closed the connection"
                    break readLoop
                }
            }
            do {
                while let frame = try state.parser.next() {
                    if frame.id == 0 {
                        let message = (try? ErrorResponse.decode(from: frame.payload))?.message ?? "no reason given"
                        failure = "the peer closed the connection: \(message)"
                        break
                    }
                    // A reply nobody awaits any more (its caller left) is dropped.
                    if let pending = state.pending.removeValue(forKey: frame.id) { replies.append((pending.waiter, frame)) }
                }
            } catch {
                failure = "the peer sent a bad frame: \(error)"
            }
        }
        for (waiter, frame) in replies { waiter.resume(returning: frame) }
        if let failure { close(reason: failure) }
    }

    // MARK: Writing

    private func writable() {
        let failed = state.withLock { state -> Bool in
            guard state.closeReason == nil else { return false }
            do {
                let written = try state.output.withUnsafeBytes { buffer throws(SocketError) in
                    try Socket.write(fd, UnsafeRawBufferPointer(rebasing: buffer[state.outputOffset...]))
                }
                state.outputOffset += written
            } catch {
                return true
            }
            if state.outputOffset == state.output.count {
                state.output = []
                state.outputOffset = 0
                if state.writeState == .running {
                    state.writeSource?.suspend()
                    state.writeState = .suspended
                }
            }
            return false
        }
        if failed { close(reason: "writing to the peer failed") }
    }

    private func armWriteSource(_ state: inout Locked) {
        switch state.writeState {
        case .inactive: state.writeSource?.activate()
        case .suspended: state.writeSource?.resume()
        case .running: return
        }
        state.writeState = .running
    }

    // MARK: Deadlines

    /// Makes the timer fire by `deadline` if it would fire later. Called under the lock.
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
        let reason = "idle for \(idleTimeout)"
        state.withLock { state in
            guard state.closeReason == nil, state.pending.isEmpty, now - state.lastActivity > idleTimeout else {
                return
            }
            _ = closeLocked(&state, reason: reason)
        }
    }

    /// Closes the connection; every caller still waiting gets `peerUnavailable` with `reason`.
    func close(reason: String) {
        let waiters = state.withLock { closeLocked(&$0, reason: reason) }
        let error = GroupCacheError(.peerUnavailable, "peer \(peerID): \(reason)")
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Marks the connection closed and cancels its sources; returns the callers to fail. Called under the lock.
    private func closeLocked(_ state: inout Locked, reason: String) -> [Waiter] {
        guard state.closeReason == nil else { return [] }
        state.closeReason = reason
        Socket.shutdown(fd)
        state.readSource?.cancel()
        state.writeSource?.cancel()
        state.timer?.cancel()
        switch state.writeState {
        case .inactive: state.writeSource?.activate()
        case .suspended: state.writeSource?.resume()
        case .running: break
        }
        state.writeState = .running
        defer { state.pending = [:] }
        return state.pending.values.map(\.waiter)
    }

    private func sourceCancelled() {
        let bothDone = state.withLock { state -> Bool in
            state.cancelledSources += 1
            guard state.cancelledSources == 2 else { return false }
            state.readSource = nil
            state.writeSource = nil
            state.timer = nil
            return true
        }
        guard bothDone else { return }
        Socket.close(writeFD)
        Socket.close(fd)
        onClose(self)
    }
}
