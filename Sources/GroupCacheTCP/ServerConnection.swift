import Dispatch
import GroupCacheWire
import Synchronization

/// A serial queue that runs connections, with the one read buffer they share: reads happen only on the queue,
/// so one buffer serves every connection on it, and an idle connection holds no read buffer of its own.
///
/// `@unchecked Sendable`, audited: `scratch` is touched only by code running on `queue`.
final class ConnectionQueue: @unchecked Sendable {
    let queue: DispatchQueue
    /// The bytes of one read; only code on `queue` uses it.
    var scratch = [UInt8](repeating: 0, count: ConnectionQueue.readSize)
    static let readSize = 64 << 10

    init(label: String) {
        queue = DispatchQueue(label: label)
    }
}

/// One accepted connection: a Dispatch read source feeds its ``ServerConnectionState``; replies are written
/// straight to the socket, and only what would block waits behind a write source.
///
/// The connection works in turns on its queue: a turn reads at most one buffer's worth, starts at most
/// ``TCPServerOptions/maxRequestsPerTurn`` requests, then settles: it reserves the partial frame's share of the
/// node's ``InputBudget``, starts or stops the read source as the state machine says, and queues another turn
/// if frames are left, behind the other connections on the queue. Every event that frees room (a request
/// finishing at capacity, output drained, budget given back) takes a turn, so reading decisions are made in
/// one place.
///
/// Dispatch on Linux, as measured (see the project's notes): the write source watches a `dup` of the socket,
/// since a read and a write source on one descriptor sometimes stopped the read source from firing; every source
/// is set up before the first read; the descriptors close only after both sources' cancel handlers have run;
/// a suspended or never-activated source is resumed before it is released.
///
/// Concurrency: frames are taken from the parser and started only on the queue, in order; replies may be sent
/// from any thread. All state sits behind one lock, never held across a call out of this file (the input
/// budget's lock, a leaf, is taken under it).
final class ServerConnection: Sendable {
    private let fd: Int32
    private let writeFD: Int32
    private let lane: ConnectionQueue
    private let handler: RequestHandler
    private let options: TCPServerOptions
    private let counters: ServerCounters
    private let budget: InputBudget
    private let onClose: @Sendable (ServerConnection) -> Void
    private let state: Mutex<Locked>

    /// Replies answered at once are written in batches of about this size.
    private static let batchBytes = 64 << 10

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
        var turnScheduled = false
        var lastActivity = ContinuousClock.now
        /// Bytes of the node's input budget held for the partial frame.
        var inputReserved = 0
        /// When the partial frame last made progress (64 KiB), and the bytes of it read since; `nil` while
        /// there is no partial frame or the connection is not reading.
        var partialProgress: (since: ContinuousClock.Instant, bytes: Int)?
        /// When unwritten output last moved; `nil` while there is none.
        var outputMovedAt: ContinuousClock.Instant?

        var bufferedOutput: Int { output.count - outputOffset }
    }

    init(
        fd: Int32, lane: ConnectionQueue, handler: RequestHandler, options: TCPServerOptions,
        counters: ServerCounters, budget: InputBudget, onClose: @escaping @Sendable (ServerConnection) -> Void
    ) throws(SocketError) {
        self.fd = fd
        self.writeFD = try Socket.duplicate(fd)
        self.lane = lane
        self.handler = handler
        self.options = options
        self.counters = counters
        self.budget = budget
        self.onClose = onClose
        self.state = Mutex(
            Locked(
                machine: ServerConnectionState(
                    limits: options.limits, maxInFlight: options.maxInFlightPerConnection,
                    maxOutputBytes: options.maxOutputBytesPerConnection)))
        counters.connectionObjects.add(1, ordering: .relaxed)
    }

    deinit {
        counters.connectionObjects.subtract(1, ordering: .relaxed)
    }

    /// Sets up both sources, then starts reading.
    func start() {
        state.withLock { state in
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: lane.queue)
            read.setEventHandler { [self] in readable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            let write = DispatchSource.makeWriteSource(fileDescriptor: writeFD, queue: lane.queue)
            write.setEventHandler { [self] in writable() }
            write.setCancelHandler { [self] in sourceCancelled() }
            state.readSource = read
            state.writeSource = write
            read.activate()
            state.readState = .running
        }
    }

    // MARK: Turns

    /// The read source fired: one read, then a turn. Runs on the queue.
    private func readable() {
        let result = try? lane.scratch.withUnsafeMutableBytes { buffer throws(SocketError) in
            try Socket.read(fd, into: buffer)
        }
        guard let result, result != .endOfInput else {
            close()
            return
        }
        if case .bytes(let count) = result {
            let open = lane.scratch.withUnsafeBytes { scratch in
                state.withLock { state -> Bool in
                    guard !state.isClosed else { return false }
                    state.lastActivity = .now
                    state.machine.receive(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                    if let progress = state.partialProgress {
                        let bytes = progress.bytes + count
                        state.partialProgress =
                            bytes >= TCPServerOptions.partialFrameProgressBytes ? (.now, 0) : (progress.since, bytes)
                    }
                    return true
                }
            }
            guard open else { return }
        }
        turn()
    }

    /// Queues a turn unless one is queued already.
    private func scheduleTurn() {
        let schedule = state.withLock { state -> Bool in
            guard !state.isClosed, !state.turnScheduled else { return false }
            state.turnScheduled = true
            return true
        }
        guard schedule else { return }
        lane.queue.async { [self] in
            state.withLock { $0.turnScheduled = false }
            turn()
        }
    }

    /// Starts up to `maxRequestsPerTurn` buffered requests, answering at once what needs no waiting and writing
    /// those answers in batches, then settles. Runs on the queue.
    private func turn() {
        var batch: [UInt8] = []
        var failed = false
        var started = 0
        loop: while started < options.maxRequestsPerTurn {
            let (step, unwritten) = state.withLock { state in
                // Replies answered at once count against the output cap as soon as they are made.
                let unwritten = state.bufferedOutput + batch.count
                return (state.machine.nextRequest(unwrittenBytes: unwritten), unwritten)
            }
            switch step {
            case .start(let frame):
                started += 1
                switch handler.answerAtOnce(frame, into: &batch) {
                case .answered:
                    if finished() { failed = true }
                case .answeredThenClose:
                    counters.count(.protocolViolation)
                    failed = true
                    break loop
                case .needsWaiting(let waiting):
                    let handler = self.handler
                    Task { [self] in
                        let (reply, close) = await handler.answer(waiting, id: frame.id)
                        send(reply)
                        if close { counters.count(.protocolViolation) }
                        if close || finished() { closeAfterFlushing() }
                    }
                }
            case .blocked:
                if unwritten >= options.maxOutputBytesPerConnection { counters.outputPauses.add(1, ordering: .relaxed) }
                break loop
            case .awaitBytes:
                break loop
            case .fail(let code, let message, let id):
                counters.count(code == .tooLarge ? .tooLarge : .protocolViolation)
                Frame.encode(kind: .error, id: id, message: ErrorResponse(code: code, message: message), to: &batch)
                failed = true
                break loop
            }
            if batch.count >= Self.batchBytes {
                send(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { send(batch) }
        if failed {
            closeAfterFlushing()
            return
        }
        settle(madeProgress: started > 0)
    }

    /// After a turn: holds the partial frame's share of the input budget, starts or stops the read source as the
    /// state machine says, runs the partial-frame clock, and queues another turn if frames are left.
    private func settle(madeProgress: Bool) {
        enum Outcome { case none, turnAgain, tooLarge(Int) }
        var toWake: [@Sendable () -> Void] = []
        let outcome = state.withLock { state -> Outcome in
            guard !state.isClosed, state.machine.phase == .reading else { return .none }
            let unwritten = state.bufferedOutput
            if state.machine.canStart(unwrittenBytes: unwritten) {
                let needed = state.machine.partialFrameBytes
                if needed > budget.capacity { return .tooLarge(needed) }
                if needed < state.inputReserved {
                    toWake = budget.release(state.inputReserved - needed, for: ObjectIdentifier(self))
                    state.inputReserved = needed
                    state.machine.awaitingInputBudget = false
                } else if needed > state.inputReserved {
                    let reserved = budget.reserve(needed - state.inputReserved, for: ObjectIdentifier(self)) {
                        [weak self] in self?.scheduleTurn()
                    }
                    if reserved {
                        state.inputReserved = needed
                    } else if !state.machine.awaitingInputBudget {
                        counters.inputPauses.add(1, ordering: .relaxed)
                    }
                    state.machine.awaitingInputBudget = !reserved
                }
            }
            let reading = state.machine.wantsToRead(unwrittenBytes: unwritten)
            setReading(reading, &state)
            if !reading || !state.machine.hasPartialFrame {
                state.partialProgress = nil
            } else if state.partialProgress == nil || madeProgress {
                state.partialProgress = (.now, 0)
            }
            return state.machine.needsTurn(unwrittenBytes: unwritten) ? .turnAgain : .none
        }
        for wake in toWake { wake() }
        switch outcome {
        case .none:
            break
        case .turnAgain:
            scheduleTurn()
        case .tooLarge(let size):
            counters.count(.tooLarge)
            let message = "a \(size)-byte frame is larger than the node's whole input budget of \(budget.capacity) bytes"
            var error: [UInt8] = []
            Frame.encode(kind: .error, id: 0, message: ErrorResponse(code: .tooLarge, message: message), to: &error)
            send(error)
            closeAfterFlushing()
        }
    }

    /// Resumes or suspends the read source. Under the state lock, so a late pause never wins over a resume.
    private func setReading(_ reading: Bool, _ state: inout Locked) {
        switch (reading, state.readState) {
        case (true, .suspended):
            state.readSource?.resume()
            state.readState = .running
        case (false, .running):
            state.readSource?.suspend()
            state.readState = .suspended
        default:
            break
        }
    }

    /// Records a finished request; returns whether the connection should now close (a drained shutdown).
    private func finished() -> Bool {
        switch state.withLock({ $0.machine.requestFinished() }) {
        case .none: return false
        case .close: return true
        case .takeTurn:
            scheduleTurn()
            return false
        }
    }

    // MARK: Writing

    /// Writes `bytes` now, or queues what the socket does not take behind the write source.
    func send(_ bytes: [UInt8]) {
        let failed = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.lastActivity = .now
            if state.bufferedOutput > 0 {
                state.output.append(contentsOf: bytes)
                counters.bufferedOutputBytes.add(bytes.count, ordering: .relaxed)
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
            state.outputMovedAt = .now
            counters.bufferedOutputBytes.add(state.output.count, ordering: .relaxed)
            armWriteSource(&state)
            return false
        }
        if failed { close() }
    }

    private func writable() {
        enum Outcome { case none, failed, flushedAndClosing, belowCap }
        let outcome = state.withLock { state -> Outcome in
            guard !state.isClosed else { return .none }
            let before = state.bufferedOutput
            do {
                let written = try state.output.withUnsafeBytes { buffer throws(SocketError) in
                    try Socket.write(fd, UnsafeRawBufferPointer(rebasing: buffer[state.outputOffset...]))
                }
                state.outputOffset += written
                counters.bufferedOutputBytes.subtract(written, ordering: .relaxed)
                if written > 0 { state.outputMovedAt = .now }
            } catch {
                return .failed
            }
            let crossedCap = before >= options.maxOutputBytesPerConnection
                && state.bufferedOutput < options.maxOutputBytesPerConnection
            guard state.bufferedOutput == 0 else { return crossedCap ? .belowCap : .none }
            state.output = []
            state.outputOffset = 0
            state.outputMovedAt = nil
            if state.writeState == .running {
                state.writeSource?.suspend()
                state.writeState = .suspended
            }
            return state.closeAfterFlush ? .flushedAndClosing : (crossedCap ? .belowCap : .none)
        }
        switch outcome {
        case .none: break
        case .failed, .flushedAndClosing: close()
        case .belowCap: scheduleTurn()
        }
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
            setReading(false, &state)
            return state.bufferedOutput == 0
        }
        if closeNow { close() }
    }

    /// Begins a graceful shutdown: no more reading; complete requests not yet started are answered UNAVAILABLE;
    /// the connection closes when its running requests have finished and their replies are written.
    func shutdown() {
        lane.queue.async { [self] in
            let (unstarted, closeNow) = state.withLock { state in
                setReading(false, &state)
                return state.machine.beginShutdown()
            }
            var batch: [UInt8] = []
            for id in unstarted { RequestHandler.appendUnavailable(id: id, to: &batch) }
            if !batch.isEmpty { send(batch) }
            if closeNow { closeAfterFlushing() }
        }
    }

    /// Closes the connection at once: gives back its input budget and output count, and cancels both sources;
    /// their cancel handlers close the descriptors.
    func close() {
        let toWake = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.isClosed else { return [] }
            state.isClosed = true
            state.machine.close()
            counters.bufferedOutputBytes.subtract(state.bufferedOutput, ordering: .relaxed)
            state.output = []
            state.outputOffset = 0
            let toWake = budget.release(state.inputReserved, for: ObjectIdentifier(self))
            state.inputReserved = 0
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
            return toWake
        }
        for wake in toWake { wake() }
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
            "\(state.machine.phase), \(state.machine.inFlight) in flight, \(state.bufferedOutput) bytes to write"
                + (state.isClosed ? ", closed (\(state.cancelledSources) of 2 sources cancelled)" : "")
                + ", reading \(state.readState), writing \(state.writeState)"
        }
    }

    /// Closes the connection if its partial frame stalled, its output stopped moving, or it has been idle, for
    /// longer than the options allow.
    func closeIfExpired(now: ContinuousClock.Instant) {
        let cause = state.withLock { state -> ServerCounters.Cause? in
            guard !state.isClosed else { return nil }
            if let progress = state.partialProgress, now - progress.since > options.partialFrameTimeout {
                return .partialFrame
            }
            if let moved = state.outputMovedAt, now - moved > options.writeTimeout { return .writeTimeout }
            let quiet = state.machine.inFlight == 0 && state.bufferedOutput == 0
            return quiet && now - state.lastActivity > options.idleTimeout ? .idle : nil
        }
        guard let cause else { return }
        counters.count(cause)
        close()
    }
}
