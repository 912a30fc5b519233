@_spi(Transport) import GroupCache
import GroupCacheWire

/// Answers peers' requests with a node's groups: decodes a request frame, runs it, and encodes the reply frame.
///
/// Work that needs no waiting (a cache hit, a local write, a ping, stats) is answered by ``answerAtOnce(_:into:)``
/// on the thread that read the frame; the rest (a load, a routed request) by ``answer(_:id:)``, which gets a
/// missed GET already decoded.
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

    /// A request that waits: a peer's GET that missed, already decoded, or a routed request, not yet decoded.
    enum Waiting: Sendable {
        case load(Group, CacheKey)
        case routed(Frame)
    }

    /// Appends the reply to `frame` to `buffer` if it can be given without waiting.
    func answerAtOnce(_ frame: Frame, into buffer: inout [UInt8]) -> Immediate {
        let id = frame.id
        do {
            switch frame.kind {
            case .ping:
                Frame.encode(kind: .pong, id: id, to: &buffer)
            case .stats:
                Frame.encode(kind: .statsReply, id: id, message: statsResponse(), to: &buffer)
            case .get:
                guard !frame.flags.contains(.route) else { return .needsWaiting(.routed(frame)) }
                let request = try GetRequest.decode(from: frame.payload)
                let group = try group(request.group)
                let key = CacheKey(bytes: request.key)
                guard let value = group.serveCachedGet(key) else { return .needsWaiting(.load(group, key)) }
                appendValue(value, id: id, to: &buffer)
            case .set:
                guard !frame.flags.contains(.route) else { return .needsWaiting(.routed(frame)) }
                let request = try SetRequest.decode(from: frame.payload)
                try group(request.group).serveSet(
                    CacheKey(bytes: request.key), value: CacheValue(request.value, expiryNanoseconds: request.expire))
                Frame.encode(kind: .setReply, id: id, to: &buffer)
            case .remove:
                guard !frame.flags.contains(.route) else { return .needsWaiting(.routed(frame)) }
                let request = try RemoveRequest.decode(from: frame.payload)
                try group(request.group).serveRemove([CacheKey(bytes: request.key)])
                Frame.encode(kind: .removeReply, id: id, to: &buffer)
            case .removeKeys:
                guard !frame.flags.contains(.route) else { return .needsWaiting(.routed(frame)) }
                let request = try RemoveKeysRequest.decode(from: frame.payload, limits: limits)
                try group(request.group).serveRemove(request.keys.map { CacheKey(bytes: $0) })
                Frame.encode(kind: .removeKeysReply, id: id, to: &buffer)
            default:
                appendError(.unsupported, "this node does not implement \(frame.kind)", id: id, to: &buffer)
            }
            return .answered
        } catch let error as WireError {
            appendError(error.errorCode, "\(frame.kind) \(id): \(error.message)", id: id, to: &buffer)
            return .answeredThenClose
        } catch {
            appendError(error, id: id, to: &buffer)
            return .answered
        }
    }

    /// Returns the reply to request `id` that ``answerAtOnce(_:into:)`` left waiting: a load, or a routed request;
    /// `close` is set when the request broke the protocol.
    func answer(_ waiting: Waiting, id: UInt32) async -> (reply: [UInt8], close: Bool) {
        switch waiting {
        case .load(let group, let key):
            var buffer: [UInt8] = []
            do {
                appendValue(try await group.serveLoad(key, deadline: .now + group.options.loadTimeout), id: id, to: &buffer)
            } catch {
                appendError(error, id: id, to: &buffer)
            }
            return (buffer, false)
        case .routed(let frame):
            return await answerRouted(frame)
        }
    }

    /// Decodes and runs a request with ROUTE, as the public API does on this node.
    private func answerRouted(_ frame: Frame) async -> (reply: [UInt8], close: Bool) {
        var buffer: [UInt8] = []
        let id = frame.id
        do {
            switch frame.kind {
            case .get:
                let request = try GetRequest.decode(from: frame.payload)
                appendValue(try await group(request.group).get(CacheKey(bytes: request.key)), id: id, to: &buffer)
            case .set:
                let request = try SetRequest.decode(from: frame.payload)
                try await group(request.group).set(
                    CacheKey(bytes: request.key), to: CacheValue(request.value, expiryNanoseconds: request.expire))
                Frame.encode(kind: .setReply, id: id, to: &buffer)
            case .remove:
                let request = try RemoveRequest.decode(from: frame.payload)
                try await group(request.group).remove(CacheKey(bytes: request.key))
                Frame.encode(kind: .removeReply, id: id, to: &buffer)
            case .removeKeys:
                let request = try RemoveKeysRequest.decode(from: frame.payload, limits: limits)
                try await group(request.group).removeKeys(request.keys.map { CacheKey(bytes: $0) })
                Frame.encode(kind: .removeKeysReply, id: id, to: &buffer)
            default:
                // answerAtOnce answers every other kind.
                appendError(.internalError, "\(frame.kind) reached the waiting path", id: id, to: &buffer)
            }
            return (buffer, false)
        } catch let error as WireError {
            appendError(error.errorCode, "\(frame.kind) \(id): \(error.message)", id: id, to: &buffer)
            return (buffer, true)
        } catch {
            appendError(error, id: id, to: &buffer)
            return (buffer, false)
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

    private func appendError(_ code: ErrorCode, _ message: String, id: UInt32, to buffer: inout [UInt8]) {
        Frame.encode(kind: .error, id: id, message: ErrorResponse(code: code, message: message), to: &buffer)
    }

    /// Appends the ERROR frame for an engine or loader error (mapped by ``ErrorCode/init(_:)``).
    private func appendError(_ error: any Error, id: UInt32, to buffer: inout [UInt8]) {
        guard let error = error as? GroupCacheError else {
            appendError(.loadFailed, "\(error)", id: id, to: &buffer)
            return
        }
        appendError(ErrorCode(error.code), error.message, id: id, to: &buffer)
    }

    private func statsResponse() -> StatsResponse {
        StatsResponse(
            groups: registry.allGroups.map(StatsResponse.Group.init),
            node: counters.snapshot(bufferedInputBytes: budget.reserved))
    }

}
