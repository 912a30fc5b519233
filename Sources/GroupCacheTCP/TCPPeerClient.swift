import GroupCache
import GroupCacheWire
import Synchronization

/// A ``PeerClient`` over TCP: each call is one frame on a pooled connection to the peer.
///
/// Replies map to ``GroupCacheError`` codes: NOT_FOUND and LOAD_FAILED keep their meaning (the caller neither
/// retries nor loads locally); every other failure (refused, reset, a bad frame, UNAVAILABLE, an unknown code)
/// is a peer error, which the group answers with a local load.
///
/// Concurrency: every method may be called from any task.
final class TCPPeerClient: PeerClient {
    let id: String
    let pool: ConnectionPool
    /// The limits the peer reads with.
    private let limits: FrameLimits
    /// Set once the peer answered REMOVE_KEYS with UNSUPPORTED: later calls send one REMOVE per key.
    private let removeKeysUnsupported = Atomic(false)

    init(peer: Peer, options: TCPClientOptions) throws(GroupCacheError) {
        self.id = peer.id
        self.limits = options.limits
        self.pool = try ConnectionPool(peerID: peer.id, address: peer.address, options: options)
    }

    func get(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        try await get(group: group, key: key, flags: [], deadline: deadline)
    }

    /// GET with `flags`: ROUTE for ``TCPNodeClient``, none between peers.
    func get(group: String, key: CacheKey, flags: FrameFlags, deadline: ContinuousClock.Instant) async throws -> CacheValue {
        let reply = try await send(.get, GetRequest(group: Array(group.utf8), key: key.bytes), flags: flags, deadline: deadline)
        guard case .getReply(let decoded) = reply else { throw unexpected(reply, for: .get) }
        switch decoded {
        case .success(let response):
            return CacheValue(response.value, expiryNanoseconds: response.expire)
        case .failure(let error):
            throw GroupCacheError(.peerProtocol, "peer \(id) sent a GET_REPLY that does not decode: \(error)", peerID: id)
        }
    }

    func set(group: String, key: CacheKey, value: CacheValue, deadline: ContinuousClock.Instant) async throws {
        try await set(group: group, key: key, value: value, flags: [], deadline: deadline)
    }

    /// SET with `flags`.
    func set(group: String, key: CacheKey, value: CacheValue, flags: FrameFlags, deadline: ContinuousClock.Instant) async throws {
        // The value is held to the limit the peer holds values to; the connection checks the frame as a whole.
        guard value.bytes.count <= limits.maxValueBytes else {
            throw GroupCacheError(
                .tooLarge, "a SET of \(value.bytes.count) bytes to peer \(id) is over the limit of \(limits.maxValueBytes)")
        }
        let request = SetRequest(group: Array(group.utf8), key: key.bytes, value: value.bytes, expire: value.expiryNanoseconds)
        _ = try await send(.set, request, flags: flags, deadline: deadline)
    }

    func remove(group: String, key: CacheKey, deadline: ContinuousClock.Instant) async throws {
        try await remove(group: group, key: key, flags: [], deadline: deadline)
    }

    /// REMOVE with `flags`.
    func remove(group: String, key: CacheKey, flags: FrameFlags, deadline: ContinuousClock.Instant) async throws {
        _ = try await send(.remove, RemoveRequest(group: Array(group.utf8), key: key.bytes), flags: flags, deadline: deadline)
    }

    func removeKeys(group: String, keys: [CacheKey], deadline: ContinuousClock.Instant) async throws {
        if !removeKeysUnsupported.load(ordering: .relaxed) {
            let request = RemoveKeysRequest(group: Array(group.utf8), keys: keys.map(\.bytes))
            do {
                _ = try await send(.removeKeys, request, deadline: deadline)
                return
            } catch let error as GroupCacheError where error.code == .unsupported {
                removeKeysUnsupported.store(true, ordering: .relaxed)
            }
        }
        // A peer without REMOVE_KEYS: one REMOVE per key, all in flight at once on the pooled connections.
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for key in keys {
                tasks.addTask { try await self.remove(group: group, key: key, deadline: deadline) }
            }
            try await tasks.waitForAll()
        }
    }

    /// Asks the peer for its stats.
    func stats(deadline: ContinuousClock.Instant) async throws -> StatsResponse {
        let reply = try await send(.stats, deadline: deadline) { id, buffer in Frame.encode(kind: .stats, id: id, to: &buffer) }
        guard case .frame(let frame) = reply else { throw unexpected(reply, for: .stats) }
        return try StatsResponse.decode(from: frame.payload)
    }

    /// Sends a PING and waits for the PONG.
    func ping(deadline: ContinuousClock.Instant) async throws {
        _ = try await send(.ping, deadline: deadline) { id, buffer in Frame.encode(kind: .ping, id: id, to: &buffer) }
    }

    /// Sends a `kind` request carrying `message` and returns its successful reply.
    private func send(
        _ kind: FrameKind, _ message: some WireMessage, flags: FrameFlags = [], deadline: ContinuousClock.Instant
    ) async throws -> Reply {
        try await send(kind, deadline: deadline) { id, buffer in
            Frame.encode(kind: kind, flags: flags, id: id, message: message, to: &buffer)
        }
    }

    /// Sends the `kind` request that `encode` writes and returns its reply, which must be `kind`'s reply; an
    /// ERROR becomes its ``GroupCacheError``, any other kind a protocol error.
    private func send(
        _ kind: FrameKind, deadline: ContinuousClock.Instant, encode: (UInt32, inout [UInt8]) -> Void
    ) async throws -> Reply {
        let reply = try await pool.request(deadline: deadline, encode: encode)
        guard reply.kind == kind.reply else { throw failure(from: reply, for: kind) }
        return reply
    }

    /// The error for `reply` to a `kind` request that did not succeed: its ERROR decoded, or a protocol error.
    private func failure(from reply: Reply, for kind: FrameKind) -> GroupCacheError {
        guard case .frame(let frame) = reply, frame.kind == .error else { return unexpected(reply, for: kind) }
        return error(from: frame)
    }

    private func error(from reply: Frame) -> GroupCacheError {
        guard let response = try? ErrorResponse.decode(from: reply.payload) else {
            return GroupCacheError(.peerProtocol, "peer \(id) sent an ERROR that does not decode", peerID: id)
        }
        // The peer answered: the failure is its own (no peer named), or that of the peers it names.
        return GroupCacheError(
            GroupCacheError.Code(response.code), "peer \(id): \(response.message)", peerID: response.failedPeers.first)
    }

    private func unexpected(_ reply: Reply, for kind: FrameKind) -> GroupCacheError {
        GroupCacheError(.peerProtocol, "peer \(id) answered \(kind) with \(reply.kind)", peerID: id)
    }
}
