import Dispatch
import GroupCacheAuth
import GroupCacheLock
import GroupCacheWire

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

/// One accepted connection: a Dispatch read source feeds its ``ServerConnectionState``; replies go out through
/// the ``ConnectionWriter``.
///
/// The connection works in turns on its queue: a turn reads at most one buffer's worth, starts at most
/// ``TCPServerOptions/maxRequestsPerTurn`` requests, then settles: it reserves the partial frame's share of the
/// node's ``InputBudget``, starts or stops the read source as the state machine says, and queues another turn
/// if frames are left, behind the other connections on the queue. Every event that frees room (a request
/// finishing at capacity, output dropping below its cap, budget given back) takes a turn, so reading decisions
/// are made in one place.
///
/// Every source is set up before the first read (an immediate end of input must find them there), and the
/// connection reports itself closed once both sources' cancel handlers have run; the sockets close when the
/// last reference goes.
///
/// Concurrency: frames are taken from the parser and started only on the queue, in order; replies may be sent
/// from any thread. The connection's state sits behind one lock, never held across a call out of this file
/// (the writer's and the input budget's locks, leaves, may be taken under it).
final class ServerConnection: Sendable {
    let socket: Socket
    let writer: ConnectionWriter
    let lane: ConnectionQueue
    let handler: RequestHandler
    let options: TCPServerOptions
    let counters: ServerCounters
    let budget: InputBudget
    private let onClose: @Sendable (ServerConnection) -> Void
    let state: Lock<Locked>

    /// Replies answered at once are written in batches of about this size.
    static let batchBytes = 64 << 10

    struct Locked {
        var machine: ServerConnectionState
        var readSource: SourceSwitch?
        var isClosed = false
        var cancelledSources = 0
        var turnScheduled = false
        /// When bytes last arrived, or a request that waited last finished.
        var lastActivity = ContinuousClock.now
        /// When the connection was accepted: its handshake must be complete within the handshake timeout.
        let accepted = ContinuousClock.now
        /// Bytes of the node's input budget held for the partial frame.
        var inputReserved = 0
        /// When the partial frame last made progress (64 KiB), and the bytes of it read since; `nil` while
        /// there is no partial frame or the connection is not reading.
        var partialProgress: (since: ContinuousClock.Instant, bytes: Int)?
    }

    init(
        socket: Socket, lane: ConnectionQueue, handler: RequestHandler, options: TCPServerOptions,
        counters: ServerCounters, budget: InputBudget, onClose: @escaping @Sendable (ServerConnection) -> Void
    ) throws(SocketError) {
        self.socket = socket
        self.writer = ConnectionWriter(
            socket: try socket.duplicate(), queue: lane.queue, capacity: options.maxOutputBytesPerConnection
        ) { [counters] change in counters.bufferedOutputBytes.add(change, ordering: .relaxed) }
        self.lane = lane
        self.handler = handler
        self.options = options
        self.counters = counters
        self.budget = budget
        self.onClose = onClose
        self.state = Lock(
            Locked(
                machine: ServerConnectionState(
                    limits: options.limits, maxInFlight: options.maxInFlightPerConnection,
                    maxOutputBytes: options.maxOutputBytesPerConnection, secrets: options.secrets)))
        counters.connectionObjects.add(1, ordering: .relaxed)
    }

    deinit {
        counters.connectionObjects.subtract(1, ordering: .relaxed)
    }

    /// Sets up both sources, then starts reading.
    func start() {
        writer.start({ [self] event in
            switch event {
            case .failed, .finished: close()
            case .belowCapacity: scheduleTurn()
            }
        }, cancelled: { [self] in sourceCancelled() })
        state.withLock { state in
            let read = DispatchSource.makeReadSource(fileDescriptor: socket.descriptor, queue: lane.queue)
            read.setEventHandler { [self] in readable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            state.readSource = SourceSwitch(read)
            state.readSource?.start()
        }
    }

    // MARK: Turns

    /// The read source fired: one read, then a turn. Runs on the queue.
    private func readable() {
        // Before the handshake is complete a stranger gets to send only a few hundred bytes.
        let allowance = state.withLock { $0.machine.readAllowance }
        guard allowance > 0 else {
            // The turn refuses the stranger; a read of nothing would look like the end of input.
            turn()
            return
        }
        let result = try? lane.scratch.withUnsafeMutableBytes { buffer throws(SocketError) in
            try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, allowance)]))
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

    // MARK: Closing

    /// Stops reading, and closes once every reply made so far is written.
    func closeAfterFlushing() {
        let open = state.withLock { state -> Bool in
            guard !state.isClosed else { return false }
            state.machine.close()
            setReading(false, &state)
            return true
        }
        if open && writer.finish() { close() }
    }

    /// Sends ERROR `code` with id 0 (the connection-level error), then closes once it is written.
    func fail(_ code: ErrorCode, _ message: String) {
        var error: [UInt8] = []
        Frame.encode(kind: .error, id: 0, message: ErrorResponse(code: code, message: message), to: &error)
        writer.send(error)
        closeAfterFlushing()
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
            if !batch.isEmpty { writer.send(batch) }
            if closeNow { closeAfterFlushing() }
        }
    }

    /// Closes the connection at once: gives back its input budget and queued output, and cancels both sources;
    /// the connection reports itself closed when their cancel handlers have run.
    func close() {
        let toWake = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.isClosed else { return [] }
            state.isClosed = true
            state.machine.close()
            let toWake = budget.release(state.inputReserved, for: ObjectIdentifier(self))
            state.inputReserved = 0
            // Wake anything blocked on the socket and make the sources fire their cancel handlers.
            socket.shutdown()
            state.readSource?.cancel()
            return toWake
        }
        writer.close()
        for wake in toWake { wake() }
    }

    private func sourceCancelled() {
        let bothDone = state.withLock { state -> Bool in
            state.cancelledSources += 1
            guard state.cancelledSources == 2 else { return false }
            state.readSource = nil
            return true
        }
        if bothDone { onClose(self) }
    }

    /// Where the connection stands, for people: its phase, requests in flight, bytes waiting to be written.
    var status: String {
        let writing = writer.description
        return state.withLock { state in
            "\(state.machine.phase), \(state.machine.inFlight) in flight, \(writing)"
                + (state.isClosed ? ", closed (\(state.cancelledSources) of 2 sources cancelled)" : "")
                + ", reading \(state.readSource?.description ?? "not set up")"
        }
    }

    /// Closes the connection if its partial frame stalled, its output stopped moving, or it has been idle, for
    /// longer than the options allow.
    func closeIfExpired(now: ContinuousClock.Instant) {
        let (stalledSince, unwritten) = (writer.stalledSince, writer.unwrittenBytes)
        let cause = state.withLock { state -> ServerCounters.Cause? in
            guard !state.isClosed else { return nil }
            if let progress = state.partialProgress, now - progress.since > options.partialFrameTimeout {
                return .partialFrame
            }
            if let stalledSince, now - stalledSince > options.writeTimeout { return .writeTimeout }
            if !state.machine.isAuthenticated, now - state.accepted > options.handshakeTimeout { return .unauthenticated }
            let quiet = state.machine.inFlight == 0 && unwritten == 0
            return quiet && now - state.lastActivity > options.idleTimeout ? .idle : nil
        }
        guard let cause else { return }
        counters.count(cause)
        if cause == .unauthenticated {
            fail(.unauthenticated, "no handshake within \(options.handshakeTimeout): this node requires a cluster secret")
            return
        }
        close()
    }
}
