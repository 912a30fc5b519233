import GroupCacheSingleFlight
import GroupCacheLock

/// Removes that could not reach a peer, kept to send again until the peer takes them: a healed partition then
/// converges without waiting for expiry. A set that could not reach a peer queues a remove too, so that the
/// peer drops the copy the set could not replace.
///
/// Every ``GroupOptions/removeRetryInterval`` while keys wait, each peer with keys gets them in one REMOVE_KEYS
/// (a down peer fails at once, which costs nothing); the keys it takes leave the queue. At most
/// ``GroupOptions/maxPendingRemoves`` keys wait, over all peers; a key past that is dropped and counted in
/// ``GroupStats/removesDropped``. A peer that leaves the ring has its keys dropped without a count: it holds
/// nothing this node will ask for. Removing a key from a cache is always safe, so a retry that arrives after a
/// newer set only costs that peer a reload.
///
/// Concurrency: every method may be called from any task.
final class PendingRemoves: Sendable {
    private struct State {
        var byPeer: [String: (client: any PeerClient, keys: [CacheKey: Void])] = [:]
        var count = 0
        var dropped = 0
        var retried = 0
        var timer: DeadlineTimer.Token?
    }

    private let state = Lock(State())
    private let limit: Int
    private let interval: Duration
    private static let timer = DeadlineTimer()

    init(limit: Int, interval: Duration) {
        self.limit = limit
        self.interval = interval
    }

    deinit {
        if let timer = state.withLock({ $0.timer }) { Self.timer.cancel(timer) }
    }

    /// Keys waiting now, removes sent again that a peer took, and keys dropped at the limit.
    var counts: (pending: Int, retried: Int, dropped: Int) {
        state.withLock { ($0.count, $0.retried, $0.dropped) }
    }

    /// Queues `keys` for `peer`, and schedules a retry in `group` if none is scheduled.
    func add(_ keys: [CacheKey], for peer: any PeerClient, in group: Group) {
        state.withLock { state in
            for key in keys where state.byPeer[peer.id]?.keys[key] == nil {
                guard state.count < limit else {
                    state.dropped += 1
                    continue
                }
                state.byPeer[peer.id, default: (peer, [:])].keys[key] = ()
                state.count += 1
            }
            scheduleRetry(&state, in: group)
        }
    }

    private func scheduleRetry(_ state: inout State, in group: Group) {
        guard state.timer == nil, state.count > 0 else { return }
        state.timer = Self.timer.schedule(at: .now + interval) { [weak self, weak group] in
            guard let self, let group else { return }
            Task { await self.retry(in: group) }
        }
    }

    /// Sends every peer its waiting keys once; what a peer takes leaves the queue.
    func retry(in group: Group) async {
        let members = Set((group.peers?.remotePeers() ?? []).map(\.id))
        let batches = state.withLock { state -> [(client: any PeerClient, keys: [CacheKey])] in
            state.timer = nil
            for (id, entry) in state.byPeer where !members.contains(id) {
                state.count -= entry.keys.count
                state.byPeer[id] = nil
            }
            return state.byPeer.values.map { ($0.client, Array($0.keys.keys)) }
        }
        await withTaskGroup(of: (String, [CacheKey])?.self) { tasks in
            for (client, keys) in batches {
                tasks.addTask {
                    let deadline = ContinuousClock.now + group.options.defaultTimeout
                    guard (try? await client.removeKeys(group: group.name, keys: keys, deadline: deadline)) != nil else {
                        return nil
                    }
                    return (client.id, keys)
                }
            }
            for await case let (id, keys)? in tasks {
                state.withLock { state in
                    for key in keys where state.byPeer[id]?.keys.removeValue(forKey: key) != nil {
                        state.count -= 1
                        state.retried += 1
                    }
                    if state.byPeer[id]?.keys.isEmpty == true { state.byPeer[id] = nil }
                }
            }
        }
        state.withLock { scheduleRetry(&$0, in: group) }
    }
}
