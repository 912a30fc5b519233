import Dispatch
public import GroupCache
import GroupCacheSingleFlight
import GroupCacheWire
import GroupCacheLock

/// Serves a node's groups to its peers over TCP, in the frames of `docs/PROTOCOL.md`.
///
/// Nonblocking sockets on Dispatch sources: one accept source, and a read source per connection; replies go
/// straight to the socket. See ``TCPServerOptions`` for the limits.
///
/// ```swift
/// let secrets = try ClusterSecrets(contentsOfFile: "/etc/groupcache/secret")
/// let server = TCPServer(registry: registry, options: TCPServerOptions(secrets: secrets))
/// let port = try server.start(host: "0.0.0.0", port: 8080)   // without a secret: loopback only
/// …
/// await server.shutdown()
/// ```
///
/// Concurrency: every method may be called from any task.
public final class TCPServer: Sendable {
    /// The groups it serves.
    public let registry: GroupRegistry
    /// Its limits and timeouts.
    public let options: TCPServerOptions

    private let handler: RequestHandler
    let counters = ServerCounters()
    private let budget: InputBudget
    private let queue = DispatchQueue(label: "groupcache.server.accept")
    private let state = Lock(Locked())

    private struct Locked {
        var listener: Socket?
        var port = 0
        var acceptSource: (any DispatchSourceRead)?
        var acceptSuspended = false
        var sweep: DeadlineTimer.Token?
        /// Resumes accepting after a pause. The transport's timer exists before the process can run out of
        /// descriptors, so resuming needs nothing new from the system then.
        var resumeAccepting: DeadlineTimer.Token?
        var connections: [ObjectIdentifier: ServerConnection] = [:]
        var nextQueue = 0
        var isShuttingDown = false
        var drained: [CheckedContinuation<Void, Never>] = []
        var listenerClosed: CheckedContinuation<Void, Never>?
    }

    /// Connection queues: each connection runs on one, so a node uses a few threads however many peers it has.
    private let connectionQueues: [ConnectionQueue] = (0..<4).map {
        ConnectionQueue(label: "groupcache.server.connections.\($0)")
    }

    /// Creates a server for `registry`'s groups; ``start(host:port:)`` opens its socket.
    public init(registry: GroupRegistry, options: TCPServerOptions = TCPServerOptions()) {
        self.registry = registry
        self.options = options
        let budget = InputBudget(capacity: options.maxBufferedInputBytes)
        self.budget = budget
        self.handler = RequestHandler(registry: registry, limits: options.limits, counters: counters, budget: budget)
    }

    /// Starts listening on `host:port` and returns the port (the one the system picked, for port 0).
    ///
    /// Protected mode: without ``TCPServerOptions/secrets`` a server listens only on loopback (127.0.0.0/8,
    /// ::1), where only this machine reaches it, unless ``TCPServerOptions/allowsUnauthenticatedNonLoopback``
    /// says otherwise.
    ///
    /// - Throws: ``SocketError`` if the address does not resolve or cannot be bound; ``ProtectedMode`` if it
    ///   is not loopback and the options give no secret and no opt-out.
    @discardableResult
    public func start(host: String = "127.0.0.1", port: Int = 0) throws -> Int {
        if options.secrets == nil, !options.allowsUnauthenticatedNonLoopback,
            !(try SocketAddress(host: host, port: port, passive: true).isLoopback)
        {
            throw ProtectedMode(host: host)
        }
        let (listener, boundPort) = try Socket.listen(host: host, port: port)
        state.withLock { state in
            precondition(state.port == 0, "a TCPServer starts once")
            state.listener = listener
            state.port = boundPort
            let source = DispatchSource.makeReadSource(fileDescriptor: listener.descriptor, queue: queue)
            source.setEventHandler { [self] in acceptPending() }
            source.setCancelHandler { [self] in
                // Releasing the listener closes it.
                self.state.withLock { state in
                    state.listener = nil
                    return state.listenerClosed.take()
                }?.resume()
            }
            state.acceptSource = source
            source.activate()

            state.sweep = DeadlineTimer.transport.schedule(every: Self.sweepInterval(options)) { [weak self] in
                self?.sweepConnections()
            }
        }
        return boundPort
    }

    /// The port it listens on; 0 before ``start(host:port:)``.
    public var port: Int { state.withLock { $0.port } }

    /// The number of open connections.
    public var connectionCount: Int { state.withLock { $0.connections.count } }

    /// The bytes of the input budget that partial frames hold now.
    var budgetReserved: Int { budget.reserved }

    /// Each open connection's state, for people: phase, requests in flight, bytes waiting to be written.
    public var connectionStatus: [String] { state.withLock { Array($0.connections.values) }.map(\.status) }

    /// Stops gracefully: stops accepting and reading, answers requests read but not started with UNAVAILABLE,
    /// lets running ones finish (up to ``TCPServerOptions/shutdownTimeout``), writes their replies, and closes.
    public func shutdown() async {
        // The listener closes first, so that once this returns nobody can connect (a connection the kernel
        // accepted into the backlog would otherwise be reset later, looking to its client like a failure).
        await withCheckedContinuation { continuation in
            let closedAlready = state.withLock { state -> Bool in
                guard let source = state.acceptSource else { return true }
                state.isShuttingDown = true
                state.listenerClosed = continuation
                if state.acceptSuspended { source.resume() }
                source.cancel()
                state.acceptSource = nil
                return false
            }
            if closedAlready { continuation.resume() }
        }
        let connections = state.withLock { state -> [ServerConnection] in
            state.isShuttingDown = true
            return Array(state.connections.values)
        }
        for connection in connections { connection.shutdown() }
        let forceClose = DeadlineTimer.transport.schedule(at: .now + options.shutdownTimeout) { [self] in
            for connection in state.withLock({ Array($0.connections.values) }) { connection.close() }
        }
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.connections.isEmpty { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        DeadlineTimer.transport.cancel(forceClose)
        state.withLock { state in
            for token in [state.sweep, state.resumeAccepting].compactMap({ $0 }) { DeadlineTimer.transport.cancel(token) }
            state.sweep = nil
            state.resumeAccepting = nil
        }
    }

    // MARK: Accepting

    private func acceptPending() {
        while true {
            let accepted: Socket?
            do {
                accepted = try state.withLock { $0.listener }?.accept()
            } catch {
                // Out of descriptors, or out of kernel memory: the listener stays readable and the handler would
                // spin, so accepting pauses instead; pending connections wait in the backlog.
                counters.acceptPauses.add(1, ordering: .relaxed)
                pauseAccepting(for: .milliseconds(100))
                return
            }
            guard let accepted else { return }
            guard admit(accepted) else {
                counters.acceptPauses.add(1, ordering: .relaxed)
                pauseAccepting(for: .milliseconds(100))
                return
            }
        }
    }

    /// Serves the accepted `socket`, or refuses it with ERROR UNAVAILABLE; returns `false` when the process is out
    /// of descriptors, so that accepting pauses rather than refuse every connection in the backlog in turn.
    private func admit(_ socket: Socket) -> Bool {
        let queue = state.withLock { state -> ConnectionQueue? in
            guard !state.isShuttingDown, state.connections.count < options.maxConnections else { return nil }
            state.nextQueue = (state.nextQueue + 1) % connectionQueues.count
            return connectionQueues[state.nextQueue]
        }
        counters.accepted.add(1, ordering: .relaxed)
        guard let queue else {
            counters.count(.connectionLimit)
            Self.refuse(socket, "the node serves its limit of connections")
            return true
        }
        let connection: ServerConnection
        do {
            connection = try ServerConnection(
                socket: socket, lane: queue, handler: handler, options: options, counters: counters, budget: budget
            ) { [weak self] connection in self?.remove(connection) }
        } catch {
            Self.refuse(socket, "the node is out of file descriptors (\(error))")
            return !error.isOutOfDescriptors
        }
        state.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
        counters.openConnections.add(1, ordering: .relaxed)
        connection.start()
        return true
    }

    /// Sends ERROR UNAVAILABLE with id 0 and `reason` on `socket`, which closes when this returns.
    private static func refuse(_ socket: Socket, _ reason: String) {
        var refusal: [UInt8] = []
        Frame.encode(kind: .error, id: 0, message: ErrorResponse(code: .unavailable, message: reason), to: &refusal)
        _ = try? refusal.withUnsafeBytes { buffer throws(SocketError) in try socket.write(buffer) }
    }

    private func remove(_ connection: ServerConnection) {
        let drained = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            if state.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil {
                counters.openConnections.subtract(1, ordering: .relaxed)
            }
            guard state.connections.isEmpty, state.isShuttingDown else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in drained { continuation.resume() }
    }

    private func pauseAccepting(for pause: Duration) {
        state.withLock { state in
            guard !state.acceptSuspended, let source = state.acceptSource else { return }
            source.suspend()
            state.acceptSuspended = true
            state.resumeAccepting = DeadlineTimer.transport.schedule(at: .now + pause) { [weak self] in
                self?.resumeAccepting()
            }
        }
    }

    private func resumeAccepting() {
        state.withLock { state in
            state.resumeAccepting = nil
            guard state.acceptSuspended, let source = state.acceptSource else { return }
            source.resume()
            state.acceptSuspended = false
        }
    }

    // MARK: Timeouts

    private func sweepConnections() {
        let now = ContinuousClock.now
        for connection in state.withLock({ Array($0.connections.values) }) {
            connection.closeIfExpired(now: now)
        }
    }

    /// A quarter of the shortest timeout, between 5 ms and 1 s: timeouts fire at most 25% late.
    private static func sweepInterval(_ options: TCPServerOptions) -> Duration {
        var shortest = min(options.idleTimeout, options.partialFrameTimeout, options.writeTimeout) / 4
        if options.secrets != nil { shortest = min(shortest, options.handshakeTimeout / 4) }
        return min(.seconds(1), max(.milliseconds(5), shortest))
    }
}

/// Why ``TCPServer/start(host:port:)`` refused to listen: the address reaches beyond this machine and the
/// server has no cluster secret, so anyone who reaches the port could read, load, overwrite or empty its caches.
public struct ProtectedMode: Error, CustomStringConvertible, Sendable {
    /// The address asked for.
    public let host: String

    /// What to do about it.
    public var description: String {
        "refusing to listen on \(host.isEmpty ? "every address" : host) without a cluster secret: anyone who reaches "
            + "the port could read, load, overwrite or empty the caches. Give a secret (--secret-file, "
            + "TCPServerOptions.secrets), listen on loopback, or opt out with --insecure "
            + "(TCPServerOptions.allowsUnauthenticatedNonLoopback)."
    }
}
