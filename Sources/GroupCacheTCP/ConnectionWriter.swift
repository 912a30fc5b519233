import Dispatch
import GroupCacheAuth
import GroupCacheLock
import GroupCacheWire

/// The write side both kinds of connection share: frames go straight to the socket from the thread that made
/// them, and only what the socket does not take waits behind a write source.
///
/// A sender that finds another one sending adds its frame to the batch that one sends next, so concurrent
/// replies or requests go out in one `send` and nobody sleeps on the lock during a system call. The writer
/// tells its owner, through the handler given to ``start(_:)``, when a write fails, when what waits drops
/// below ``capacity`` (the owner may read again) and when everything is written after ``finish()``.
///
/// Dispatch on Linux, as measured: the write source watches a descriptor of its own (a `dup` of the socket),
/// since a read and a write source on one descriptor sometimes stopped the read source from firing.
///
/// On an authenticated connection the writer tags every frame as it takes its place in the stream, under the
/// lock that orders the stream, so that the tags count frames in the order the peer reads them.
///
/// Concurrency: every method may be called from any thread. One lock, a leaf: the handler runs after it is
/// released.
final class ConnectionWriter: Sendable {
    /// What the writer reports to its owner.
    enum Event {
        /// A write failed; the owner should close the connection.
        case failed(any Error)
        /// The bytes waiting dropped below ``capacity``.
        case belowCapacity
        /// Everything was written after ``finish()``; the owner may close the connection.
        case finished
    }

    typealias Handler = @Sendable (Event) -> Void

    /// The bytes that may wait before ``Event/belowCapacity`` is worth reporting; `Int.max` for no cap.
    let capacity: Int
    private let socket: Socket
    private let state: Lock<Locked>
    private let queue: DispatchQueue
    /// Told of bytes the socket did not take, as they are queued (+) and written or dropped (-).
    private let queuedBytesChanged: @Sendable (Int) -> Void

    private struct Locked {
        var source: SourceSwitch?
        var handler: Handler?
        /// Bytes the socket would not take, written by the write source from `offset`.
        var output: [UInt8] = []
        var offset = 0
        /// Whether a sender is writing now, outside the lock; others add their frames to `batch`.
        var isFlushing = false
        var inFlushBytes = 0
        var batch: [UInt8] = []
        var isFinishing = false
        var isClosed = false
        /// When queued output last moved; `nil` while none is queued.
        var movedAt: ContinuousClock.Instant?
        /// Tags each frame sent from ``startSealing(with:)`` on.
        var sealer: FrameSealer?

        var queued: Int { output.count - offset }
        var unwritten: Int { queued + batch.count + inFlushBytes }

        /// What to report now that `before` unwritten bytes became ``unwritten``: every drop below the
        /// capacity is reported, whichever path wrote the bytes, so that an owner that stopped reading at the
        /// cap is always woken.
        func event(after before: Int, capacity: Int) -> Event? {
            if isFinishing && unwritten == 0 { return .finished }
            return before >= capacity && unwritten < capacity ? .belowCapacity : nil
        }
    }

    /// A writer for `socket` (a descriptor of the connection's own, see above), whose write source runs on
    /// `queue`.
    init(
        socket: Socket, queue: DispatchQueue, capacity: Int = .max,
        queuedBytesChanged: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.socket = socket
        self.queue = queue
        self.capacity = capacity
        self.queuedBytesChanged = queuedBytesChanged
        self.state = Lock(Locked())
    }

    /// Sets up the write source, which calls `cancelled` once it is cancelled, and the handler of events.
    /// Called once, before the connection reads, so that no close can come before the source exists.
    func start(_ handler: @escaping Handler, cancelled: @escaping @Sendable () -> Void) {
        state.withLock { state in
            let source = DispatchSource.makeWriteSource(fileDescriptor: socket.descriptor, queue: queue)
            source.setEventHandler { [self] in writable() }
            source.setCancelHandler(handler: cancelled)
            state.source = SourceSwitch(source)
            state.handler = handler
        }
    }

    /// Bytes made and not yet written.
    var unwrittenBytes: Int { state.withLock { $0.unwritten } }

    /// Since when queued output has not moved; `nil` while none is queued.
    var stalledSince: ContinuousClock.Instant? { state.withLock { $0.movedAt } }

    /// Tags every frame sent from now on with `sealer`: what a connection does once its handshake has made the
    /// session key.
    func startSealing(with sealer: FrameSealer) {
        state.withLock { $0.sealer = sealer }
    }

    /// Writes `frame` (one or more whole frames) now, or queues what the socket does not take; `false` if the
    /// writer is closed or finishing, or the write failed before any byte of `frame` went out (the handler is
    /// then told of the failure).
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool {
        let role = state.withLock { state -> [UInt8]?? in
            guard !state.isClosed, !state.isFinishing else { return nil }
            var frame = frame
            if state.sealer != nil { frame = state.sealer!.seal(frame) }
            if state.queued > 0 {
                state.output.append(contentsOf: frame)
                queuedBytesChanged(frame.count)
                return .some(nil)
            }
            if state.isFlushing {
                state.batch.append(contentsOf: frame)
                return .some(nil)
            }
            state.isFlushing = true
            state.inFlushBytes = frame.count
            return frame
        }
        guard let toFlush = role else { return false }
        guard let toFlush else { return true }
        return flush(toFlush)
    }

    /// Sends `frame`, then every batch others added meanwhile, until none is left or the socket is full.
    private func flush(_ frame: [UInt8]) -> Bool {
        var bytes = frame
        var first = true
        while true {
            let written: Int
            do {
                written = try bytes.withUnsafeBytes { buffer throws(SocketError) in try socket.write(buffer) }
            } catch {
                let handler = state.withLock { state in
                    state.isFlushing = false
                    state.inFlushBytes = 0
                    return state.handler
                }
                handler?(.failed(error))
                // This sender's own frame did not go out; batched frames fail with the close.
                return !first
            }
            first = false
            let (next, event, handler) = state.withLock { state -> ([UInt8]?, Event?, Handler?) in
                guard !state.isClosed else {
                    state.isFlushing = false
                    state.inFlushBytes = 0
                    return (nil, nil, nil)
                }
                let before = state.unwritten
                var next: [UInt8]?
                if written < bytes.count {
                    // The socket is full: the write source sends the rest, then whatever is batched.
                    state.output = Array(bytes[written...]) + state.batch
                    state.offset = 0
                    state.batch = []
                    state.isFlushing = false
                    state.inFlushBytes = 0
                    state.movedAt = .now
                    queuedBytesChanged(state.output.count)
                    state.source?.start()
                } else if state.batch.isEmpty {
                    state.isFlushing = false
                    state.inFlushBytes = 0
                } else {
                    next = state.batch
                    state.batch = []
                    state.inFlushBytes = next!.count
                }
                return (next, state.event(after: before, capacity: capacity), state.handler)
            }
            if let event { handler?(event) }
            guard let next else { return true }
            bytes = next
        }
    }

    /// The write source fired: writes what waits, and stops the source once nothing does. Runs on the queue.
    private func writable() {
        let (event, handler) = state.withLock { state -> (Event?, Handler?) in
            guard !state.isClosed else { return (nil, nil) }
            guard state.queued > 0 else {
                state.source?.pause()
                return (nil, nil)
            }
            let before = state.unwritten
            do {
                let written = try state.output.withUnsafeBytes { buffer throws(SocketError) in
                    try socket.write(UnsafeRawBufferPointer(rebasing: buffer[state.offset...]))
                }
                state.offset += written
                queuedBytesChanged(-written)
                if written > 0 { state.movedAt = .now }
            } catch {
                return (.failed(error), state.handler)
            }
            if state.queued == 0 {
                state.output = []
                state.offset = 0
                state.movedAt = nil
                state.source?.pause()
            }
            return (state.event(after: before, capacity: capacity), state.handler)
        }
        if let event { handler?(event) }
    }

    /// Takes no more frames; returns `true` if everything is written already, and otherwise reports
    /// ``Event/finished`` once it is.
    func finish() -> Bool {
        state.withLock { state in
            state.isFinishing = true
            return state.unwritten == 0
        }
    }

    /// Drops what waits and cancels the write source; its cancel handler runs once it is done. Safe to call more
    /// than once.
    func close() {
        state.withLock { state in
            guard !state.isClosed else { return }
            state.isClosed = true
            queuedBytesChanged(-state.queued)
            state.output = []
            state.offset = 0
            state.batch = []
            state.movedAt = nil
            state.handler = nil
            state.source?.cancel()
        }
    }

    /// The writer's state, for people.
    var description: String {
        state.withLock { "\($0.unwritten) bytes to write, writing \($0.source?.description ?? "not set up")" }
    }
}
