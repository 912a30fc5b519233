import Dispatch
import Foundation
import GroupCache
import GroupCacheAuth
import GroupCacheLock
import GroupCacheSingleFlight
import GroupCacheWire

/// One connection to a peer, carrying many requests at once: each gets a fresh id, and replies, in any order,
/// are matched back by id. A thread of the connection's own waits in poll(2), parses replies and resumes their
/// callers (measured against a Dispatch read source: 5.3-5.7 context switches per request instead of 7-8, and
/// no multi-millisecond p99); requests go out through the ``ConnectionWriter``. A pool keeps few connections
/// per peer, so the threads stay few. ``ClientConnectionState`` makes the decisions.
///
/// A caller that is cancelled or whose deadline passes stops waiting at once; its reply, if it comes, is dropped.
/// When the connection fails, every caller still waiting gets ``GroupCacheError/Code/peerUnavailable``.
///
/// Concurrency: every method may be called from any task. State sits behind locks that are never held across
/// a syscall another thread waits on: `parser` (only the reader thread takes it), `state` (the machine) and
/// the writer's own.
final class ClientConnection: Sendable {
    /// The error a request gets when its connection was found closed before any byte of it was written, so it
    /// is safe to send again on another connection.
    struct ClosedBeforeWrite: Error {}

    /// What a connection tells its pool.
    enum Event {
        /// It closed for a failure of the peer's, before its callers hear of it.
        case failed(reason: String, Failure)
        /// Its reader thread and write source have both ended: the pool forgets it.
        case ended
    }

    /// How the peer failed a connection, as the pool's breaker weighs it (``PeerHealth``).
    enum Failure {
        /// Reading or writing failed, the peer closed it, or sent a bad frame.
        case broke
        /// The peer answered an ERROR with id 0 (at its connection cap, say) and closed it.
        case refused
        /// A PING went unanswered.
        case hung
        /// The peer refused this node's credentials (ERROR UNAUTHENTICATED), or a frame of its failed its tag.
        case unauthenticated
    }

    /// Unsafe rather than checked (one allocation fewer per request): the machine hands each waiter out once.
    typealias Waiter = UnsafeContinuation<Reply, any Error>

    /// The least room each read is given.
    static let readSize = 64 << 10

    struct Locked {
        var machine: ClientConnectionState<Waiter>
        var timer: DeadlineTimer.Token?
        /// The reader thread and the write source, as each ends.
        var endedSides = 0
    }

    /// The peer, for messages.
    let peerID: String
    let socket: Socket
    private let writer: ConnectionWriter
    /// The replies read and not yet taken; only the reader thread uses it.
    let parser: Lock<FrameParser>
    let state: Lock<Locked>
    private let events: @Sendable (ClientConnection, Event) -> Void
    /// Its limits are the peer's, which this side checks before it sends.
    private let options: TCPClientOptions

    private let counters: PeerCounters

    /// A connection over `socket`, just connected; with `session`, the parser and sealer its handshake made
    /// (``ClientHandshake``), so that every frame is tagged.
    init(
        socket: Socket, peerID: String, options: TCPClientOptions, counters: PeerCounters, queue: DispatchQueue,
        session: (parser: FrameParser, sealer: FrameSealer)? = nil,
        events: @escaping @Sendable (ClientConnection, Event) -> Void
    ) throws(SocketError) {
        let liveness = ClientConnectionState<Waiter>.Liveness(quietLimit: options.pingAfter, pingTimeout: options.pingTimeout)
        self.state = Lock(Locked(machine: ClientConnectionState(now: .now, liveness: liveness)))
        self.socket = socket
        self.writer = ConnectionWriter(socket: try socket.duplicate(), queue: queue)
        self.peerID = peerID
        self.events = events
        self.parser = Lock(session?.parser ?? FrameParser(limits: options.limits))
        if let session { writer.startSealing(with: session.sealer) }
        self.options = options
        self.counters = counters
        writer.start({ [self] event in
            if case .failed(let error) = event { close(reason: "writing to the peer failed: \(error)", failure: .broke) }
        }, cancelled: { [self] in sideEnded() })
        // Replies are read on a thread that blocks in poll(2): a reply then wakes one thread, which resumes its
        // caller, where a Dispatch read source wakes two (the event thread, then a handler thread).
        let reader = Thread { [self] in readReplies() }
        reader.name = "groupcache.client \(peerID)"
        reader.start()
    }

    /// Requests in flight.
    var inFlight: Int { state.withLock { $0.machine.inFlight } }

    /// Whether the connection has failed or been closed.
    var isClosed: Bool { state.withLock { $0.machine.closeReason != nil } }

    /// Sends a request whose frame `encode` appends for the given id, and returns the reply (its success kind
    /// or ERROR).
    ///
    /// - Throws: ``GroupCacheError`` `tooLarge` if the frame is over the limits the peer reads with: it is not
    ///   sent, since the peer would close the connection and fail every other request on it;
    ///   ``ClosedBeforeWrite`` if the connection was closed before any byte was written;
    ///   ``GroupCacheError`` `peerUnavailable` if it fails later, `deadlineExceeded` at `deadline`;
    ///   `CancellationError`.
    func request(
        deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Reply {
        let slot = Lock<UInt32?>(nil)
        defer { Handoff.acquire(self) }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (waiter: Waiter) in
                guard let id = register(waiter, deadline: deadline, slot: slot) else { return }
                var frame: [UInt8] = []
                encode(id, &frame)
                let kind = FrameKind(rawValue: frame[4])
                let payload = frame.count - FrameHeader.byteCount
                let limit = options.limits.maxPayloadBytes(for: kind)
                guard payload <= limit else {
                    fail(id, with: GroupCacheError(
                        .tooLarge, "a \(kind) of \(payload) payload bytes to peer \(peerID) is over the limit of \(limit)"))
                    return
                }
                if !writer.send(frame) {
                    // Nothing of it went out: the caller may send it again elsewhere, unless the close got to
                    // the waiter first.
                    fail(id, with: ClosedBeforeWrite())
                    close(reason: "writing to the peer failed", failure: .broke)
                }
            }
        } onCancel: {
            // Read under the state lock: the id is either not yet assigned, and then the request sees the
            // cancellation itself, or assigned, and then it is here.
            if let id = state.withLock({ _ in slot.withLock { $0 } }) { fail(id, with: CancellationError()) }
        }
    }

    /// Gives `waiter` an id, stored in `slot` for the cancellation handler, and arms the deadline timer if its
    /// deadline comes first; `nil` after resuming `waiter` with the error when the request cannot be made.
    private func register(_ waiter: Waiter, deadline: ContinuousClock.Instant, slot: borrowing Lock<UInt32?>) -> UInt32? {
        let registered = state.withLock { state -> Result<UInt32, any Error> in
            if Task.isCancelled { return .failure(CancellationError()) }
            switch state.machine.register(waiter, deadline: deadline, now: .now) {
            case .closed:
                return .failure(ClosedBeforeWrite())
            case .registered(let id, let armTimer):
                slot.withLock { $0 = id }
                if let armTimer { arm(&state, at: armTimer) }
                return .success(id)
            }
        }
        switch registered {
        case .success(let id):
            return id
        case .failure(let error):
            waiter.resume(throwing: error)
            return nil
        }
    }

    // MARK: Deadlines

    /// Sets the deadline timer to fire at `deadline`, in place of a later one. Under the state lock.
    private func arm(_ state: inout Locked, at deadline: ContinuousClock.Instant) {
        if let timer = state.timer { DeadlineTimer.transport.cancel(timer) }
        state.timer = DeadlineTimer.transport.schedule(at: deadline) { [weak self] in self?.expireOverdue() }
    }

    private func expireOverdue() {
        let expiry = state.withLock { state in
            state.timer = nil
            var expiry = state.machine.expire(now: .now)
            // Bytes waiting in the socket answer the PING: the peer sent them, and only this process has not
            // read them yet (its reader thread starved of CPU, say). Asked only when the peer would be found
            // hung (a non-blocking ioctl), so that an overloaded caller does not blame its peer.
            if expiry.hung && socket.hasBytesWaiting {
                state.machine.received(now: .now)
                let overdue = expiry.overdue
                expiry = state.machine.expire(now: .now)
                expiry.overdue += overdue
            }
            if let next = expiry.next, !expiry.hung { arm(&state, at: next) }
            return expiry
        }
        let error = GroupCacheError(.deadlineExceeded, "peer \(peerID) did not answer in time", peerID: peerID)
        Handoff.release(self)
        for waiter in expiry.overdue { waiter.resume(throwing: error) }
        if closeIfWritesStalled(now: .now) { return }
        if expiry.hung {
            close(
                reason: "it sent nothing for \(options.pingAfter) and did not answer a PING within \(options.pingTimeout): it is hung",
                failure: .hung)
        } else if let ping = expiry.ping {
            counters.livenessPings.add(1, ordering: .relaxed)
            var frame: [UInt8] = []
            Frame.encode(kind: .ping, id: ping, to: &frame)
            if !writer.send(frame) { close(reason: "writing to the peer failed", failure: .broke) }
        }
    }

    private func fail(_ id: UInt32, with error: any Error) {
        guard let waiter = state.withLock({ $0.machine.take(id) }) else { return }
        Handoff.release(self)
        waiter.resume(throwing: error)
    }

    // MARK: Closing

    /// Closes the connection if nothing is in flight and nothing has crossed it for `idleTimeout`. Decided under
    /// the lock that requests register under, so a request is never caught by the close: it either came first
    /// (and the connection stays) or finds the connection closed before writing (and is retried elsewhere).
    func closeIfIdle(for idleTimeout: Duration, now: ContinuousClock.Instant) {
        let closed = state.withLock { state -> Bool in
            guard state.machine.isIdle(for: idleTimeout, now: now) else { return false }
            return closeLocked(&state, reason: "idle for \(idleTimeout)") != nil
        }
        if closed { writer.close() }
    }

    /// Closes the connection if its queued requests have not moved for the write timeout; checked whenever the
    /// deadline timer fires and by the pool's sweep. Returns whether it closed.
    @discardableResult
    func closeIfWritesStalled(now: ContinuousClock.Instant) -> Bool {
        guard let since = writer.stalledSince, now - since >= options.writeTimeout else { return false }
        close(reason: "the peer read none of its requests for \(options.writeTimeout)", failure: .broke)
        return true
    }

    /// Closes the connection; every caller still waiting gets `peerUnavailable` with `reason`.
    func close(reason: String) {
        close(reason: reason, failure: nil)
    }

    /// Closes the connection, telling the pool first when the peer failed it: a refusal or a hang always, a
    /// break only with callers waiting (a peer may close a connection that carries nothing).
    func close(reason: String, failure: Failure?) {
        guard let waiters = state.withLock({ closeLocked(&$0, reason: reason) }) else { return }
        writer.close()
        if let failure, failure != .broke || !waiters.isEmpty { events(self, .failed(reason: reason, failure)) }
        let code: GroupCacheError.Code = failure == .unauthenticated ? .unauthenticated : .peerUnavailable
        let error = GroupCacheError(code, "peer \(peerID): \(reason)", peerID: peerID)
        Handoff.release(self)
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Marks the connection closed and wakes the reader; returns the callers to fail, `nil` if it was closed
    /// already. Under the state lock.
    private func closeLocked(_ state: inout Locked, reason: String) -> [Waiter]? {
        guard let waiters = state.machine.close(reason: reason) else { return nil }
        socket.shutdown()
        if let timer = state.timer { DeadlineTimer.transport.cancel(timer) }
        state.timer = nil
        return waiters
    }

    /// The reader thread or the write source has ended; once both have, the connection is gone.
    func sideEnded() {
        let bothDone = state.withLock { state -> Bool in
            state.endedSides += 1
            return state.endedSides == 2
        }
        if bothDone { events(self, .ended) }
    }
}
