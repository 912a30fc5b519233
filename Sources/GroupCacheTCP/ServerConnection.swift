import Dispatch
import GroupCacheWire
import Synchronization

/// One accepted connection: a Dispatch read source feeds its ``ServerConnectionState``; replies are written
/// straight to the socket, and only what would block waits behind a write source.
///
/// Dispatch on Linux, as measured (see the project's notes): the write source watches a `dup` of the socket,
/// since a read and a write source on one descriptor sometimes stopped the read source from firing; every source
/// is set up before the first read; the descriptors close only after both sources' cancel handlers have run;
/// a suspended or never-activated source is resumed before it is released.
///
/// Concurrency: frames are taken from the parser and started only on `queue`, in order; replies may be sent
/// from any thread. All state sits behind one lock, never held across a call out of this file.
final class ServerConnection: Sendable {
    private let fd: Int32
    private let writeFD: Int32
    private let queue: DispatchQueue
    private let handler: RequestHandler
    private let onClose: @Sendable (ServerConnection) -> Void
    private let state: Mutex<Locked>
    /// The buffer reads land in; only `queue` uses it.
    private let reader = Mutex([UInt8](repeating: 0, count: ServerConnection.readSize))
    private static let readSize = 64 << 10

    /// A Dispatch source's state. `cancelled` is final: a cancelled source must never be suspended again, or its
    /// cancel handler (which closes the descriptors and reports the connection closed) never runs.
    private enum SourceState { case inactive, running, suspended, cancelled }

    private struct Locked {
        var machine: ServerConnectionState
        var readSource: (any DispatchSourceRead)?
        var readState = SourceState.inactive
        var writeSource: (any DispatchSourceWrite)?
        var writeState = SourceState.inactive
        var output: [UInt8] = []
        var outputOffset = 0
        var closeAfterFlush = false
        var isClosed = false
        var cancelledSources = 0
        var lastActivity = ContinuousClock.now
        var partialFrameSince: ContinuousClock.Instant?
    }

    init(
        fd: Int32, queue: DispatchQueue, handler: RequestHandler, options: TCPServerOptions,
        onClose: @escaping @Sendable (ServerConnection) -> Void
    ) throws(SocketError) {
        self.fd = fd
        self.writeFD = try Socket.duplicate(fd)
        self.queue = queue
        self.handler = handler
        self.onClose = onClose
        self.state = Mutex(
            Locked(machine: ServerConnectionState(limits: options.limits, maxInFlight: options.maxInFlightPerConnection)))
    }

    /// Sets up both sources, then starts reading.
    func start() {
        state.withLock { state in
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
            read.setEventHandler { [self] in readable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            let write = DispatchSource.makeWriteSource(fileDescriptor: writeFD, queue: queue)
            write.setEventHandler { [self] in writable() }
            write.setCancelHandler { [self] in sourceCancelled() }
            state.readSource = read
            state.writeSource = write
            read.activate()
            state.readState = .running
        }
    }

    // MARK: Reading

    /// Reads what the socket holds and feeds it to the state machine. The read syscalls happen under `reader`,
    /// which only this queue takes, so a reply being sent from a load's task never waits behind them.
    private func readable() {
        var ended = false
        for _ in 0..<4 {
            let result = reader.withLock { scratch -> ReadResult? in
                try? scratch.withUnsafeMutableBytes { buffer throws(SocketError) in try Socket.read(fd, into: buffer) }
            }
            guard let result, result != .endOfInput else {
                ended = true
                break
            }
            guard case .bytes(let count) = result else { break }
            let open = reader.withLock { scratch in
                state.withLock { state -> Bool in
                    guard !state.isClosed else { return false }
                    state.lastActivity = .now
                    scratch.withUnsafeBytes { state.machine.receive(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    return true
                }
            }
            guard open else { return }
            if count < Self.readSize { break }
        }
        if ended {
            close()
            return
        }
        startBufferedRequests()
    }

    /// Starts every request the state machine hands out, answering at once what needs no waiting, and sends
    /// those answers in one write. Runs on `queue`.
    private func startBufferedRequests() {
        var batch: [UInt8] = []
        var closeAfter = false
        loop: while true {
            let step = state.withLock { $0.machine.nextRequest() }
            switch step {
            case .start(let frame):
                switch handler.answerAtOnce(frame, into: &batch) {
                case .answered:
                    if finished() { closeAfter = true }
                case .answeredThenClose:
                    closeAfter = true
                    break loop
                case .needsWaiting(let waiting):
                    let handler = self.handler
                    Task { [self] in
                        let (reply, close) = await handler.answer(waiting, id: frame.id)
                        send(reply)
                        if close || finished() { closeAfterFlushing() }
                    }
                }
            case .awaitBytes:
                break loop
            case .pauseReading:
                state.withLock { state in
                    guard state.readState == .running else { return }
                    state.readSource?.suspend()
                    state.readState = .suspended
                }
                break loop
            case .fail(let code, let message, let id):
                Frame.encode(kind: .error, id: id, message: ErrorResponse(code: code, message: message), to: &batch)
                closeAfter = true
                break loop
            }
        }
        state.withLock { state in
            let partial = state.machine.phase == .reading && state.machine.hasPartialFrame
            if !partial {
                state.partialFrameSince = nil
            } else if state.partialFrameSince == nil {
                state.partialFrameSince = .now
            }
        }
        if !batch.isEmpty { send(batch) }
        if closeAfter { closeAfterFlushing() }
    }

    /// Records a finished request; returns whether the connection should now close (a drained shutdown).
    private func finished() -> Bool {
        let completion = state.withLock { $0.machine.requestFinished() }
        switch completion {
        case .none:
            return false
        case .close:
            return true
        case .resumeReading:
            queue.async { [self] in
                startBufferedRequests()
                state.withLock { state in
                    guard state.readState == .suspended, !state.isClosed, state.machine.phase == .reading else { return }
                    state.readSource?.resume()
                    state.readState = .running
                }
            }
            return false
        }
    }

    // MARK: Writing

    /// Writes `bytes` now, or queues what the socket does not take behind the write source.
    func send(_ bytes: [UInt8]) {
        let failed = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.lastActivity = .now
            if state.outputOffset < state.output.count {
                state.output.append(contentsOf: bytes)
                return false
            }
            let written: Int
            do {
                written = try bytes.withUnsafeBytes { buffer throws(SocketError) in try Socket.write(fd, buffer) }
            } catch {
                return true
            }
            guard written < bytes.count else { return false }
            state.output = Array(bytes[written...])
            state.outputOffset = 0
            armWriteSource(&state)
            return false
        }
        if failed { close() }
    }

    private func writable() {
        let outcome = state.withLock { state -> (failed: Bool, flushedAndClosing: Bool) in
            guard !state.isClosed else { return (false, false) }
            do {
                let written = try state.output.withUnsafeBytes { buffer throws(SocketError) in
                    try Socket.write(fd, UnsafeRawBufferPointer(rebasing: buffer[state.outputOffset...]))
                }
                state.outputOffset += written
            } catch {
                return (true, false)
            }
            guard state.outputOffset == state.output.count else { return (false, false) }
            state.output = []
            state.outputOffset = 0
            if state.writeState == .running {
                state.writeSource?.suspend()
                state.writeState = .suspended
            }
            return (false, state.closeAfterFlush)
        }
        if outcome.failed || outcome.flushedAndClosing { close() }
    }

    private func armWriteSource(_ state: inout Locked) {
        switch state.writeState {
        case .inactive: state.writeSource?.activate()
        case .suspended: state.writeSource?.resume()
        case .running, .cancelled: return
        }
        state.writeState = .running
    }

    // MARK: Closing

    /// Stops reading, and closes once every queued byte is written.
    func closeAfterFlushing() {
        let closeNow = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.closeAfterFlush = true
            state.machine.close()
            if state.readState == .running {
                state.readSource?.suspend()
                state.readState = .suspended
            }
            return state.outputOffset >= state.output.count
        }
        if closeNow { close() }
    }

    /// Begins a graceful shutdown: no more reading; complete requests not yet started are answered UNAVAILABLE;
    /// the connection closes when its running requests have finished and their replies are written.
    func shutdown() {
        queue.async { [self] in
            let (unstarted, closeNow) = state.withLock { state in
                if state.readState == .running {
                    state.readSource?.suspend()
                    state.readState = .suspended
                }
                return state.machine.beginShutdown()
            }
            var batch: [UInt8] = []
            for id in unstarted { RequestHandler.appendUnavailable(id: id, to: &batch) }
            if !batch.isEmpty { send(batch) }
            if closeNow { closeAfterFlushing() }
        }
    }

    /// Closes the connection at once: cancels both sources; their cancel handlers close the descriptors.
    func close() {
        state.withLock { state in
            guard !state.isClosed else { return }
            state.isClosed = true
            state.machine.close()
            state.output = []
            state.outputOffset = 0
            // Wake anything blocked on the socket and make the sources fire their cancel handlers.
            Socket.shutdown(fd)
            state.readSource?.cancel()
            state.writeSource?.cancel()
            switch state.readState {
            case .inactive: state.readSource?.activate()
            case .suspended: state.readSource?.resume()
            case .running, .cancelled: break
            }
            switch state.writeState {
            case .inactive: state.writeSource?.activate()
            case .suspended: state.writeSource?.resume()
            case .running, .cancelled: break
            }
            state.readState = .cancelled
            state.writeState = .cancelled
        }
    }

    private func sourceCancelled() {
        let bothDone = state.withLock { state -> Bool in
            state.cancelledSources += 1
            guard state.cancelledSources == 2 else { return false }
            state.readSource = nil
            state.writeSource = nil
            return true
        }
        guard bothDone else { return }
        Socket.close(writeFD)
        Socket.close(fd)
        onClose(self)
    }

    /// Where the connection stands, for people: its phase, requests in flight, bytes waiting to be written.
    var status: String {
        state.withLock { state in
            "\(state.machine.phase), \(state.machine.inFlight) in flight, \(state.output.count - state.outputOffset) bytes to write"
                + (state.isClosed ? ", closed (\(state.cancelledSources) of 2 sources cancelled)" : "")
                + ", reading \(state.readState), writing \(state.writeState)"
        }
    }

    /// Closes the connection if it has been idle, or has held part of a frame, for too long.
    func closeIfExpired(now: ContinuousClock.Instant, options: TCPServerOptions) {
        let expired = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            if let since = state.partialFrameSince, now - since > options.partialFrameTimeout { return true }
            let quiet = state.machine.inFlight == 0 && state.outputOffset >= state.output.count
            return quiet && now - state.lastActivity > options.idleTimeout
        }
        if expired { close() }
    }
}
