import Dispatch
import Synchronization
import GroupCache
import GroupCacheAuth
import GroupCacheLock
import GroupCacheSingleFlight
import GroupCacheWire

/// The connections to one peer: at most ``TCPClientOptions/maxConnectionsPerPeer``, each shared by many
/// requests, opened on demand and closed when idle; and the peer's circuit breaker (``PeerHealth``), which
/// takes a failing peer out, probes it, and brings it back.
///
/// Concurrency: every method may be called from any task.
final class ConnectionPool: Sendable {
    let peerID: String
    let host: String
    let port: Int
    let options: TCPClientOptions
    let counters = PeerCounters()

    private struct Locked {
        var connections: [ClientConnection] = []
        var connecting = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var health: PeerHealth
        var peakConnections = 0
        var sweep: DeadlineTimer.Token?
        /// The next probe, while the peer is down.
        var probeTimer: DeadlineTimer.Token?
    }

    private let state: Lock<Locked>
    private let queue: DispatchQueue
    /// Set with each failure, so that a success takes the lock only after one.
    private let sawFailure = Atomic(false)

    init(peerID: String, address: String, options: TCPClientOptions) throws(GroupCacheError) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (1...65_535).contains(port)
        else {
            throw GroupCacheError(.badRequest, "peer \(peerID): address \(address) is not host:port")
        }
        self.peerID = peerID
        self.host = String(address[..<colon])
        self.port = port
        self.options = options
        self.queue = DispatchQueue(label: "groupcache.client.\(address)")
        let settings = PeerHealth.Settings(
            failuresToTrip: options.failuresBeforeDown, probeInterval: options.probeInterval,
            dialBackoff: options.reconnectBackoff)
        self.state = Lock(Locked(health: PeerHealth(settings: settings)))
        let sweepInterval = min(options.idleTimeout / 4, options.writeTimeout / 2)
        let sweep = DeadlineTimer.transport.schedule(every: max(sweepInterval, .milliseconds(5))) {
            [weak self] in self?.closeIdleConnections()
        }
        state.withLock { $0.sweep = sweep }
    }

    deinit {
        let (connections, timers) = state.withLock { ($0.connections, [$0.sweep, $0.probeTimer]) }
        for case let timer? in timers { DeadlineTimer.transport.cancel(timer) }
        for connection in connections { connection.close(reason: "the pool was closed") }
    }

    /// Open connections now.
    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// The most connections that were open or being opened at once.
    var peakConnectionCount: Int { state.withLock { $0.peakConnections } }

    /// The breaker's view of the peer now.
    var health: PeerHealth { state.withLock { $0.health } }

    /// The peer's breaker, connections and liveness counters, as STATS reports them.
    var stats: StatsResponse.Peer {
        let (health, connections) = state.withLock { ($0.health, $0.connections.count) }
        var stats = StatsResponse.Peer(id: peerID)
        stats.isDown = health.isDown
        stats.connections = UInt64(connections)
        stats.failures = UInt64(health.failures)
        stats.trips = UInt64(health.trips)
        stats.probes = UInt64(health.probes)
        stats.recoveries = UInt64(health.recoveries)
        stats.livenessPings = UInt64(counters.livenessPings.load(ordering: .relaxed))
        stats.hungConnections = UInt64(health.hungConnections)
        stats.authFailures = UInt64(counters.authFailures.load(ordering: .relaxed))
        return stats
    }

    /// Sends a request on a pooled connection and returns the reply; retries once on a new connection if
    /// the one it picked was found closed before a byte was written.
    func request(
        deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Reply {
        for attempt in 0..<2 {
            let connection = try await connection(deadline: deadline)
            do {
                let reply = try await connection.request(deadline: deadline, encode: encode)
                if sawFailure.load(ordering: .relaxed) {
                    sawFailure.store(false, ordering: .relaxed)
                    state.withLock { $0.health.succeeded() }
                }
                return reply
            } catch is ClientConnection.ClosedBeforeWrite where attempt == 0 {
                continue
            } catch is ClientConnection.ClosedBeforeWrite {
                break
            }
        }
        throw GroupCacheError(.peerUnavailable, "peer \(peerID): connections keep closing", peerID: peerID)
    }

    /// Picks the open connection with the fewest requests in flight, or opens one when every connection is busy
    /// and the pool has room; fails at once while the peer is down, or, with no connection open, while dials
    /// back off.
    private func connection(deadline: ContinuousClock.Instant) async throws -> ClientConnection {
        while true {
            enum Choice { case use(ClientConnection), dial, wait, fail(GroupCacheError) }
            let choice = state.withLock { state -> Choice in
                if state.health.isDown {
                    return .fail(GroupCacheError(
                        .peerUnavailable,
                        "peer \(peerID) is marked down until a probe is answered: \(state.health.lastFailure)", peerID: peerID))
                }
                state.connections.removeAll { $0.isClosed }
                let best = state.connections.min { $0.inFlight < $1.inFlight }
                let total = state.connections.count + state.connecting
                let mayDial = total < options.maxConnectionsPerPeer && state.health.mayDial(now: .now)
                if let best, best.inFlight < options.requestsPerConnectionBeforeGrowing || !mayDial {
                    return .use(best)
                }
                if mayDial {
                    state.connecting += 1
                    state.peakConnections = max(state.peakConnections, total + 1)
                    return .dial
                }
                if state.connecting > 0 { return .wait }
                return .fail(GroupCacheError(
                    .peerUnavailable, "peer \(peerID) is unreachable: \(state.health.lastFailure)", peerID: peerID))
            }
            switch choice {
            case .use(let connection):
                return connection
            case .fail(let error):
                throw error
            case .wait:
                // Every slot is being dialled: wait for a dial to end, then choose again.
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state in
                        guard state.connecting > 0 else { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            case .dial:
                return try await dial(deadline: deadline)
            }
        }
    }

    private func dial(deadline: ContinuousClock.Instant) async throws -> ClientConnection {
        let left = max(.milliseconds(1), deadline - .now)
        let result = await open(timeout: min(options.connectTimeout, left), handshakeTimeout: min(options.handshakeTimeout, left))
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connecting -= 1
            if case .success(let connection) = result { state.connections.append(connection) }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
        switch result {
        case .success(let connection):
            return connection
        case .failure(let error):
            let message = "peer \(peerID) at \(host):\(port): \(error)"
            failed(message, .refused)
            throw GroupCacheError(error.isAuthentication ? .unauthenticated : .peerUnavailable, message, peerID: peerID)
        }
    }

    /// Connects a new connection, on a thread off the cooperative pool: connect may block for up to `timeout`,
    /// and the handshake, when the options hold secrets, for up to `handshakeTimeout`.
    private func open(timeout: Duration, handshakeTimeout: Duration) async -> Result<ClientConnection, ClientHandshake.Failure> {
        let opened: Result<ClientConnection, ClientHandshake.Failure> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [self] in
                let result = Result { () throws(ClientHandshake.Failure) in
                    try connect(timeout: timeout, handshakeTimeout: handshakeTimeout)
                }
                Handoff.release(counters)
                continuation.resume(returning: result)
            }
        }
        Handoff.acquire(counters)
        return opened
    }

    /// Connects, runs the handshake if there are secrets (counting a failed one), and makes the connection.
    private func connect(timeout: Duration, handshakeTimeout: Duration) throws(ClientHandshake.Failure) -> ClientConnection {
        func broke(_ error: SocketError) -> ClientHandshake.Failure {
            ClientHandshake.Failure(description: "\(error)", isAuthentication: false)
        }
        let socket: Socket
        do { socket = try Socket.connect(host: host, port: port, timeout: timeout) } catch { throw broke(error) }
        var session: (parser: FrameParser, sealer: FrameSealer)?
        if let secrets = options.secrets {
            do {
                session = try ClientHandshake.run(
                    on: socket, secrets: secrets, limits: options.limits, timeout: handshakeTimeout)
            } catch {
                if error.isAuthentication { counters.authFailures.add(1, ordering: .relaxed) }
                throw error
            }
        }
        let peerID = self.peerID
        do {
            return try ClientConnection(
                socket: socket, peerID: peerID, options: options, counters: counters, queue: queue, session: session
            ) { [weak self] connection, event in
                switch event {
                case .failed(let reason, let failure): self?.failed("peer \(peerID): \(reason)", failure)
                case .ended: self?.forget(connection)
                }
            }
        } catch {
            throw broke(error)
        }
    }

    // MARK: The breaker

    /// Counts a failure of the peer's; if it takes the peer down, closes its connections (their callers load
    /// locally) and schedules the first probe. A failed connect backs off as a refusal does.
    private func failed(_ reason: String, _ failure: ClientConnection.Failure) {
        sawFailure.store(true, ordering: .relaxed)
        if failure == .unauthenticated { counters.authFailures.add(1, ordering: .relaxed) }
        let tripped = state.withLock { state -> [ClientConnection]? in
            let verdict = state.health.failed(
                reason, hung: failure == .hung, backOff: failure == .refused || failure == .unauthenticated, now: .now, jitter: .random(in: 0...1))
            guard case .tripped(let probeAt) = verdict else { return nil }
            scheduleProbe(&state, at: probeAt)
            defer { state.connections = [] }
            return state.connections
        }
        for connection in tripped ?? [] { connection.close(reason: "the peer was marked down: \(reason)") }
    }

    /// Schedules a probe at `instant`, under the lock.
    private func scheduleProbe(_ state: inout Locked, at instant: ContinuousClock.Instant) {
        state.probeTimer = DeadlineTimer.transport.schedule(at: instant) { [weak self] in self?.probe() }
    }

    /// Dials the down peer and sends a PING; an answer brings the peer back, with the probe's connection in
    /// the pool; no answer schedules the next probe.
    private func probe() {
        Task {
            var answered: ClientConnection?
            if case .success(let connection) = await open(timeout: options.connectTimeout, handshakeTimeout: options.handshakeTimeout) {
                let reply = try? await connection.request(deadline: .now + options.pingTimeout) { id, buffer in
                    Frame.encode(kind: .ping, id: id, to: &buffer)
                }
                if reply?.kind == .pong { answered = connection } else { connection.close(reason: "the probe was not answered") }
            }
            state.withLock { state in
                state.probeTimer = nil
                if let next = state.health.probed(answered: answered != nil, now: .now) {
                    scheduleProbe(&state, at: next)
                } else if let answered {
                    state.connections.append(answered)
                }
            }
        }
    }

    private func forget(_ connection: ClientConnection) {
        state.withLock { $0.connections.removeAll { $0 === connection } }
    }

    private func closeIdleConnections() {
        let now = ContinuousClock.now
        for connection in state.withLock({ $0.connections }) where !connection.closeIfWritesStalled(now: now) {
            connection.closeIfIdle(for: options.idleTimeout, now: now)
        }
    }
}
