import Dispatch
import GroupCache
import GroupCacheSingleFlight
import GroupCacheWire
import Synchronization

/// The connections to one peer: at most ``TCPClientOptions/maxConnectionsPerPeer``, each shared by many
/// requests, opened on demand, closed when idle, and not dialled again for a moment after a connect fails.
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
        var downUntil: ContinuousClock.Instant?
        var lastFailure = ""
        var isClosed = false
        var peakConnections = 0
    }

    private let state = Mutex(Locked())
    private let queue: DispatchQueue
    private let sweeper = Mutex<DeadlineTimer.Token?>(nil)

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
        let sweep = DeadlineTimer.transport.schedule(every: max(options.idleTimeout / 4, .milliseconds(5))) {
            [weak self] in self?.closeIdleConnections()
        }
        sweeper.withLock { $0 = sweep }
    }

    deinit {
        if let sweep = sweeper.withLock({ $0 }) { DeadlineTimer.transport.cancel(sweep) }
        for connection in state.withLock({ $0.connections }) { connection.close(reason: "the pool was closed") }
    }

    /// Open connections now.
    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// The most connections that were open or being opened at once.
    var peakConnectionCount: Int { state.withLock { $0.peakConnections } }

    /// Sends a request on a pooled connection and returns the reply; retries once on a new connection if
    /// the one it picked was found closed before a byte was written.
    func request(
        deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Reply {
        for attempt in 0..<2 {
            let connection = try await connection(deadline: deadline)
            do {
                return try await connection.request(deadline: deadline, encode: encode)
            } catch is ClientConnection.ClosedBeforeWrite where attempt == 0 {
                continue
            } catch is ClientConnection.ClosedBeforeWrite {
                break
            }
        }
        throw GroupCacheError(.peerUnavailable, "peer \(peerID): connections keep closing")
    }

    /// Picks the open connection with the fewest requests in flight, or opens one when every connection is busy
    /// and the pool has room.
    private func connection(deadline: ContinuousClock.Instant) async throws -> ClientConnection {
        while true {
            enum Choice { case use(ClientConnection), dial, wait, down(String) }
            let choice = state.withLock { state -> Choice in
                if let downUntil = state.downUntil {
                    if ContinuousClock.now < downUntil { return .down(state.lastFailure) }
                    state.downUntil = nil
                }
                state.connections.removeAll { $0.isClosed }
                let best = state.connections.min { $0.inFlight < $1.inFlight }
                let total = state.connections.count + state.connecting
                if let best, best.inFlight < options.requestsPerConnectionBeforeGrowing || total >= options.maxConnectionsPerPeer {
                    return .use(best)
                }
                if total < options.maxConnectionsPerPeer {
                    state.connecting += 1
                    state.peakConnections = max(state.peakConnections, total + 1)
                    return .dial
                }
                return .wait
            }
            switch choice {
            case .use(let connection):
                return connection
            case .down(let failure):
                throw GroupCacheError(.peerUnavailable, "peer \(peerID) is unreachable: \(failure)")
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
        let timeout = min(options.connectTimeout, max(.milliseconds(1), deadline - .now))
        let (host, port, peerID, options, counters, queue) = (self.host, self.port, self.peerID, self.options, self.counters, self.queue)
        let result: Result<ClientConnection, SocketError> = await withCheckedContinuation { continuation in
            // connect may block for up to its timeout: never on the cooperative pool.
            DispatchQueue.global().async {
                do throws(SocketError) {
                    let socket = try Socket.connect(host: host, port: port, timeout: timeout)
                    let connection = try ClientConnection(
                        socket: socket, peerID: peerID, options: options, counters: counters, queue: queue
                    ) { [weak self] connection in self?.forget(connection) }
                    continuation.resume(returning: .success(connection))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connecting -= 1
            switch result {
            case .success(let connection):
                state.connections.append(connection)
            case .failure(let error):
                state.downUntil = .now + options.reconnectBackoff
                state.lastFailure = "\(error)"
            }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
        switch result {
        case .success(let connection):
            return connection
        case .failure(let error):
            throw GroupCacheError(.peerUnavailable, "peer \(peerID) at \(host):\(port): \(error)")
        }
    }

    private func forget(_ connection: ClientConnection) {
        state.withLock { $0.connections.removeAll { $0 === connection } }
    }

    private func closeIdleConnections() {
        let now = ContinuousClock.now
        for connection in state.withLock({ $0.connections }) {
            connection.closeIfIdle(for: options.idleTimeout, now: now)
        }
    }
}
