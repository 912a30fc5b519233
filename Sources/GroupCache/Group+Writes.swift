extension Group {
    /// Removes `key` from every node: from its owner first, then here, then from every other peer in parallel.
    ///
    /// A load of `key` already running is detached: its waiters get its value, which is cached nowhere, and a get
    /// that starts after this returns starts a new load.
    ///
    /// - Throws: ``GroupCacheError/Code/peersFailed`` naming the owner if it failed (then nothing else was
    ///   touched), or naming every other peer that failed (the owner and this node did remove).
    public func remove(_ key: CacheKey, timeout: Duration? = nil) async throws {
        let deadline = ContinuousClock.now + (timeout ?? options.defaultTimeout)
        let owner = peers?.owner(of: key)
        if let owner {
            do {
                try await owner.remove(group: name, key: key, deadline: deadline)
            } catch {
                throw GroupCacheError(
                    .peersFailed, "remove of \(key) failed at its owner; no node removed it",
                    failures: [PeerFailure(peerID: owner.id, message: "\(error)")])
            }
        }
        removeHere(key)
        let others = otherPeers(than: owner)
        let failures = await broadcast(to: others) { peer in
            try await peer.remove(group: self.name, key: key, deadline: deadline)
        }
        queueRemoves([key], for: failures, among: others)
        if !failures.isEmpty {
            throw GroupCacheError(.peersFailed, "remove of \(key) reached its owner but not every peer", failures: failures)
        }
    }

    /// Stores `value` under `key` on every node: in its owner's main cache first, then in the main cache of this
    /// node and every other peer, dropping their hot copies so that none serves the old value.
    ///
    /// - Throws: ``GroupCacheError/Code/tooLarge`` for a value over ``GroupOptions/maxValueBytes`` (no node is
    ///   touched); ``GroupCacheError/Code/peersFailed`` naming the owner if it failed (then nothing else was
    ///   touched), or naming every other peer that failed.
    public func set(_ key: CacheKey, to value: CacheValue, timeout: Duration? = nil) async throws {
        try checkSize(of: value, for: key, "the value set")
        let deadline = ContinuousClock.now + (timeout ?? options.defaultTimeout)
        let owner = peers?.owner(of: key)
        if let owner {
            do {
                try await owner.set(group: name, key: key, value: value, deadline: deadline)
            } catch {
                throw GroupCacheError(
                    .peersFailed, "set of \(key) failed at its owner; no node stored it",
                    failures: [PeerFailure(peerID: owner.id, message: "\(error)")])
            }
        }
        storeHere(value, forKey: key)
        let others = otherPeers(than: owner)
        let failures = await broadcast(to: others) { peer in
            try await peer.set(group: self.name, key: key, value: value, deadline: deadline)
        }
        // A peer the set missed may hold an older copy: a remove queued for it drops that once it answers.
        queueRemoves([key], for: failures, among: others)
        if !failures.isEmpty {
            throw GroupCacheError(.peersFailed, "set of \(key) reached its owner but not every peer", failures: failures)
        }
    }

    /// Removes every key of `keys` from every node: each owner removes its keys (owners in parallel), then this
    /// node removes them all, then every other peer gets, in one request, the keys it did not remove as owner.
    ///
    /// - Throws: ``GroupCacheError/Code/peersFailed`` naming the owners that failed (then nothing else was
    ///   touched), or naming every other peer that failed.
    public func removeKeys(_ keys: [CacheKey], timeout: Duration? = nil) async throws {
        let deadline = ContinuousClock.now + (timeout ?? options.defaultTimeout)
        var byOwner: [String: (client: any PeerClient, keys: [CacheKey])] = [:]
        for key in keys {
            guard let owner = peers?.owner(of: key) else { continue }
            byOwner[owner.id, default: (owner, [])].keys.append(key)
        }
        let owned = byOwner
        let ownerFailures = await broadcast(to: owned.values.map(\.client)) { owner in
            try await owner.removeKeys(group: self.name, keys: owned[owner.id]!.keys, deadline: deadline)
        }
        if !ownerFailures.isEmpty {
            throw GroupCacheError(.peersFailed, "remove of \(keys.count) keys failed at owners", failures: ownerFailures)
        }
        for key in keys { removeHere(key) }
        let remote = peers?.remotePeers() ?? []
        let rest: @Sendable (any PeerClient) -> [CacheKey] = { peer in
            let removedAsOwner = Set(owned[peer.id]?.keys ?? [])
            return keys.filter { !removedAsOwner.contains($0) }
        }
        let failures = await broadcast(to: remote) { peer in
            let keys = rest(peer)
            guard !keys.isEmpty else { return }
            try await peer.removeKeys(group: self.name, keys: keys, deadline: deadline)
        }
        let failed = Set(failures.map(\.peerID))
        for peer in remote where failed.contains(peer.id) { pendingRemoves.add(rest(peer), for: peer, in: self) }
        if !failures.isEmpty {
            throw GroupCacheError(.peersFailed, "remove of \(keys.count) keys reached the owners but not every peer", failures: failures)
        }
    }

    /// Detaches any load of `key` and removes it from both caches, in that order (see ``SingleFlight``).
    func removeHere(_ key: CacheKey) {
        localFlights.forget(key)
        remoteFlights.forget(key)
        caches.withLock { $0.remove(key) }
    }

    /// Detaches any load of `key` and stores `value` in the main cache, dropping a hot copy; an expired value
    /// only removes.
    func storeHere(_ value: CacheValue, forKey key: CacheKey) {
        localFlights.forget(key)
        remoteFlights.forget(key)
        caches.withLock { caches in
            if value.isExpired(at: clock.now()) {
                caches.remove(key)
            } else {
                caches.remove(key)
                caches.store(value, forKey: key, in: .main)
            }
        }
    }

    /// Queues `keys` for each peer of `peers` that `failures` names, to be removed there once it answers.
    private func queueRemoves(_ keys: [CacheKey], for failures: [PeerFailure], among peers: [any PeerClient]) {
        guard !failures.isEmpty else { return }
        let failed = Set(failures.map(\.peerID))
        for peer in peers where failed.contains(peer.id) { pendingRemoves.add(keys, for: peer, in: self) }
    }

    private func otherPeers(than owner: (any PeerClient)?) -> [any PeerClient] {
        (peers?.remotePeers() ?? []).filter { $0.id != owner?.id }
    }

    /// Runs `operation` on every peer in parallel and returns the failures, in the order of `peers`.
    private func broadcast(
        to peers: [any PeerClient], _ operation: @escaping @Sendable (any PeerClient) async throws -> Void
    ) async -> [PeerFailure] {
        await withTaskGroup(of: (Int, PeerFailure?).self) { group in
            for (index, peer) in peers.enumerated() {
                group.addTask {
                    do {
                        try await operation(peer)
                        return (index, nil)
                    } catch {
                        return (index, PeerFailure(peerID: peer.id, message: "\(error)"))
                    }
                }
            }
            var failures: [(Int, PeerFailure)] = []
            for await case (let index, let failure?) in group { failures.append((index, failure)) }
            return failures.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
