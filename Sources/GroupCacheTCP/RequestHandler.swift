@_spi(Transport) import GroupCache
import GroupCacheWire

/// Answers peers' requests with a node's groups: decodes a request frame, runs it, and encodes the reply frame.
///
/// Each request is decoded once, into a ``Request``. Work that needs no waiting (a cache hit, a local write, a
/// ping, stats) is answered by ``answerAtOnce(_:into:)`` on the thread that read the frame; the rest (a load, a
/// routed request) by ``answer(_:id:)``. A payload that does not decode closes the connection after its ERROR.
///
/// Without ROUTE a request is served by this node whatever its ring says (a get loads here, writes touch only this
/// node's caches), so a request is never forwarded twice. With ROUTE, which only clients set, it runs as the
/// public API does on this node.
struct RequestHandler: Sendable {
    let registry: GroupRegistry
    let limits: FrameLimits
    let counters: ServerCounters
    let budget: InputBudget

    /// What became of a request answered at once.
    enum Immediate {
        /// The reply was appended.
        case answered
        /// The reply (an ERROR) was appended, and the connection must close after it.
        case answeredThenClose
        /// The request needs ``answer(_:id:)``.
        case needsWaiting(Waiting)
    }

    /// A request that waits: a peer's GET that missed, or a routed request.
    enum Waiting: Sendable {
        case load(Group, CacheKey)
        case routed(Request)
    }

    /// Appends the reply to `frame` to `buffer` if it can be given without waiting.
    func answerAtOnce(_ frame: Frame, into buffer: inout [UInt8]) -> Immediate {
        let id = frame.id
        let request: Request
        do {
            request = try Request(frame, limits: limits)
        } catch {
            appendError(error.errorCode, "\(frame.kind) \(id): \(error.message)", id: id, to: &buffer)
            return .answeredThenClose
        }
        if frame.flags.contains(.route), request.isRoutable { return .needsWaiting(.routed(request)) }
        do {
            switch request {
            case .ping:
                Frame.encode(kind: .pong, id: id, to: &buffer)
            case .stats:
                Frame.encode(kind: .statsReply, id: id, message: statsResponse(), to: &buffer)
            case .get(let get):
                let group = try group(get.group)
                let key = CacheKey(bytes: get.key)
                guard let value = group.serveCachedGet(key) else { return .needsWaiting(.load(group, key)) }
                appendValue(value, id: id, to: &buffer)
            case .set(let set):
                try group(set.group).serveSet(CacheKey(bytes: set.key), value: CacheValue(set.value, expiryNanoseconds: set.expire))
                Frame.encode(kind: .setReply, id: id, to: &buffer)
            case .remove(let remove):
                try group(remove.group).serveRemove([CacheKey(bytes: remove.key)])
                Frame.encode(kind: .removeReply, id: id, to: &buffer)
            case .removeKeys(let remove):
                try group(remove.group).serveRemove(remove.keys.map { CacheKey(bytes: $0) })
                Frame.encode(kind: .removeKeysReply, id: id, to: &buffer)
            case .unsupported(let kind):
                appendError(.unsupported, "this node does not implement \(kind)", id: id, to: &buffer)
            }
        } catch {
            appendError(error, id: id, to: &buffer)
        }
        return .answered
    }

    /// Returns the reply to request `id` that ``answerAtOnce(_:into:)`` left waiting: a load, or a routed request.
    func answer(_ waiting: Waiting, id: UInt32) async -> [UInt8] {
        var buffer: [UInt8] = []
        do {
            switch waiting {
            case .load(let group, let key):
                appendValue(try await group.serveLoad(key, deadline: .now + group.options.loadTimeout), id: id, to: &buffer)
            case .routed(let request):
                try await answerRouted(request, id: id, into: &buffer)
            }
        } catch {
            appendError(error, id: id, to: &buffer)
        }
        return buffer
    }

    /// Runs a request with ROUTE as the public API does on this node.
    private func answerRouted(_ request: Request, id: UInt32, into buffer: inout [UInt8]) async throws {
        switch request {
        case .get(let get):
            appendValue(try await group(get.group).get(CacheKey(bytes: get.key)), id: id, to: &buffer)
        case .set(let set):
            try await group(set.group).set(CacheKey(bytes: set.key), to: CacheValue(set.value, expiryNanoseconds: set.expire))
            Frame.encode(kind: .setReply, id: id, to: &buffer)
        case .remove(let remove):
            try await group(remove.group).remove(CacheKey(bytes: remove.key))
            Frame.encode(kind: .removeReply, id: id, to: &buffer)
        case .removeKeys(let remove):
            try await group(remove.group).removeKeys(remove.keys.map { CacheKey(bytes: $0) })
            Frame.encode(kind: .removeKeysReply, id: id, to: &buffer)
        case .ping, .stats, .unsupported:
            // Never routed: answerAtOnce answers them.
            appendError(.internalError, "a request that is never routed reached the routed path", id: id, to: &buffer)
        }
    }

    /// Appends an ERROR frame saying UNAVAILABLE, for requests a shutting-down server will not start.
    static func appendUnavailable(id: UInt32, to buffer: inout [UInt8]) {
        let response = ErrorResponse(code: .unavailable, message: "the node is shutting down")
        Frame.encode(kind: .error, id: id, message: response, to: &buffer)
    }

    private func group(_ name: [UInt8]) throws -> Group {
        // Decoding replaces invalid UTF-8, so a name that is not UTF-8 decodes to other bytes and names no group.
        // (String(validating:as:) does the same check, but ran unspecialised: a generic metadata lookup on every
        // request, 1% of a node's CPU in a perf profile.)
        let text = String(decoding: name, as: UTF8.self)
        guard text.utf8.elementsEqual(name), let group = registry.group(named: text) else {
            throw GroupCacheError(.noSuchGroup, "no group named \(text)")
        }
        return group
    }

    /// Appends the GET reply for `value`, or ERROR TOO_LARGE if the value is over the limit a reader applies to it.
    private func appendValue(_ value: CacheValue, id: UInt32, to buffer: inout [UInt8]) {
        guard value.bytes.count <= limits.maxValueBytes else {
            counters.repliesTooLarge.add(1, ordering: .relaxed)
            let message = "the value is \(value.bytes.count) bytes; the limit is \(limits.maxValueBytes)"
            appendError(.tooLarge, message, id: id, to: &buffer)
            return
        }
        let response = GetResponse(value: value.bytes, expire: value.expiryNanoseconds)
        Frame.encode(kind: .getReply, id: id, message: response, to: &buffer)
    }

    private func appendError(
        _ code: ErrorCode, _ message: String, failedPeers: [String] = [], id: UInt32, to buffer: inout [UInt8]
    ) {
        let response = ErrorResponse(code: code, message: message, failedPeers: failedPeers)
        Frame.encode(kind: .error, id: id, message: response, to: &buffer)
    }

    /// Appends the ERROR frame for an engine or loader error (mapped by ``ErrorCode/init(_:)``).
    private func appendError(_ error: any Error, id: UInt32, to buffer: inout [UInt8]) {
        guard let error = error as? GroupCacheError else {
            appendError(.loadFailed, "\(error)", id: id, to: &buffer)
            return
        }
        // The peers that failed go with it, so that the caller can tell them from this node.
        let failedPeers = error.failures.isEmpty ? error.peerID.map { [$0] } ?? [] : error.failures.map(\.peerID)
        let message = error.failures.isEmpty ? error.message : "\(error.message) (\(error.failures.map(\.description).joined(separator: "; ")))"
        appendError(ErrorCode(error.code), message, failedPeers: failedPeers, id: id, to: &buffer)
    }

    private func statsResponse() -> StatsResponse {
        StatsResponse(
            groups: registry.allGroups.map(StatsResponse.Group.init),
            node: counters.snapshot(bufferedInputBytes: budget.reserved),
            peers: (registry.peers?.remotePeers() ?? []).compactMap { ($0 as? TCPPeerClient)?.pool.stats })
    }

}
