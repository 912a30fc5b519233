import GroupCacheSingleFlight

extension Group {
    // The miss path, top-down. A key another node owns is fetched from its owner, once for all callers here; a
    // key this node owns is loaded here, once for all callers here and at peers. Two times bound it:
    // - `deadline`, the caller's: when that caller stops waiting (and a peer call's, capped by the peer timeout);
    // - `loadDeadline`, the load's own: ``GroupOptions/loadTimeout`` after it started, when the load gives up,
    //   whoever waits (a load outlives the caller that started it).

    /// The miss path of ``get(_:timeout:)``, apart so that a hit runs in a small async frame that allocates
    /// nothing.
    ///
    /// `get` is deliberately not `nonisolated(nonsending)`: under Swift 6.3.1 that made the key's storage be
    /// released before this call read it (a crash in `CacheKey.withUnsafeBytes`, every run of the TCP tests).
    @inline(never)
    func getMissed(_ key: CacheKey, timeout: Duration?) async throws -> CacheValue {
        let deadline = ContinuousClock.now + (timeout ?? options.defaultTimeout)
        guard let owner = peers?.owner(of: key) else {
            return try await loadHere(key, deadline: deadline, isPeerRequest: false)
        }
        do {
            return try await load(
                key, deadline: deadline, isPeerRequest: false, in: remoteFlights,
                attempt: { deadline in try await self.fetchOnce(key, from: owner, deadline: deadline) }
            ) { loadDeadline, failedFetch in
                // After a failed fetch, straight to the local loader: asking the peer again would wait again.
                if let failedFetch { return try await self.fallBack(key, from: owner, after: failedFetch, loadDeadline: loadDeadline) }
                return try await self.fetch(key, from: owner, loadDeadline: loadDeadline)
            }
        } catch let error as GroupCacheError where error.code == .deadlineExceeded && error.peerID == nil {
            // The caller's time ran out while the owner loaded: a healthy owner answers the liveness checks, so
            // the wait is the owner's.
            throw GroupCacheError(.deadlineExceeded, "\(error.message) waiting for its owner \(owner.id)", peerID: owner.id)
        }
    }

    /// Loads `key` with this node's loader, once for every caller here and at peers.
    func loadHere(_ key: CacheKey, deadline: ContinuousClock.Instant, isPeerRequest: Bool) async throws -> CacheValue {
        try await load(key, deadline: deadline, isPeerRequest: isPeerRequest, in: localFlights) { loadDeadline, _ in
            try await self.runLoader(key, loadDeadline: loadDeadline, isPeerRequest: isPeerRequest)
        }
    }

    /// Joins or starts the flight for `key` in `flights`; the flight checks the caches once more, then runs
    /// `fill` by the load's deadline, and stores its value unless a write detached it meanwhile.
    ///
    /// The caller waits until `deadline`. A load that reaches its deadline fails every waiter: with
    /// `deadlineExceeded` here, and with `loadFailed` for a peer's request, so that the peer reports it instead
    /// of loading the key a second time.
    ///
    /// With `attempt` (a fetch from the owner), the flight's leader first runs it in its own task, by its own
    /// deadline: one task and one thread hop fewer per fetch (Benchmarks/README.md has its worth). If the
    /// attempt fails with a peer's error, or the leader leaves while others wait, `fill` runs as above, told the
    /// attempt's error (`nil` when the leader left), so that it does not ask a failed peer a second time.
    private func load(
        _ key: CacheKey, deadline: ContinuousClock.Instant, isPeerRequest: Bool,
        in flights: SingleFlight<CacheKey, Loaded>,
        attempt: (@Sendable (_ deadline: ContinuousClock.Instant) async throws -> Loaded)? = nil,
        fill: @escaping @Sendable (_ loadDeadline: ContinuousClock.Instant, _ failedAttempt: (any Error)?) async throws -> Loaded
    ) async throws -> CacheValue {
        counters.loads.increment()
        let loadTimeout = options.loadTimeout
        let commit: @Sendable (Result<Loaded, any Error>) -> Void = { result in
            guard case .success(let loaded) = result, let tier = loaded.tier,
                !loaded.value.isExpired(at: self.clock.now())
            else { return }
            self.caches.withLock { $0.store(loaded.value, forKey: key, in: tier) }
        }
        do {
            guard let attempt else {
                return try await flights.value(
                    for: key, deadline: deadline, timeLimit: loadTimeout,
                    operation: { try await self.fillUnlessCached(key) { try await fill(.now + loadTimeout, nil) } },
                    commit: commit
                ).value
            }
            return try await flights.value(
                for: key, deadline: deadline, timeLimit: loadTimeout,
                attempt: { deadline in try await self.fillUnlessCached(key) { try await attempt(deadline) } },
                handsOver: { !GroupCacheError.isCallerVisible($0) },
                operation: { failedAttempt in try await fill(.now + loadTimeout, failedAttempt) },
                commit: commit
            ).value
        } catch is DeadlineExceededError {
            throw GroupCacheError(.deadlineExceeded, "get of \(key) in group \(name) timed out")
        } catch let error as OperationTimedOutError {
            throw GroupCacheError(
                isPeerRequest ? .loadFailed : .deadlineExceeded,
                "load of \(key) in group \(name) timed out after \(error.limit) (the group's load timeout)")
        }
    }

    /// Runs `fill` for a flight that starts now, unless another flight filled the cache between this caller's
    /// miss and now.
    private func fillUnlessCached(_ key: CacheKey, _ fill: () async throws -> Loaded) async throws -> Loaded {
        if let value = cachedValue(forKey: key) { return Loaded(value: value, tier: nil) }
        counters.loadsDeduped.increment()
        return try await fill()
    }

    /// Asks `owner` for `key`, falling back to the local loader if the peer fails.
    private func fetch(
        _ key: CacheKey, from owner: any PeerClient, loadDeadline: ContinuousClock.Instant
    ) async throws -> Loaded {
        do {
            return try await fetchOnce(key, from: owner, deadline: loadDeadline)
        } catch where GroupCacheError.isCallerVisible(error) {
            throw error
        } catch {
            return try await fallBack(key, from: owner, after: error, loadDeadline: loadDeadline)
        }
    }

    /// Asks `owner` for `key` once, by `deadline` capped by the peer timeout.
    private func fetchOnce(_ key: CacheKey, from owner: any PeerClient, deadline: ContinuousClock.Instant) async throws -> Loaded {
        let deadline = options.peerTimeout.map { min(deadline, .now + $0) } ?? deadline
        let value: CacheValue
        do {
            value = try await owner.get(group: name, key: key, deadline: deadline)
        } catch let error as GroupCacheError {
            throw error.naming(owner.id)
        }
        if value.isExpired(at: clock.now()) {
            throw GroupCacheError(.peerProtocol, "peer \(owner.id) sent \(key) already expired", peerID: owner.id)
        }
        counters.peerLoads.increment()
        return Loaded(value: value, tier: options.hotCache ? .hot : nil)
    }

    /// Loads `key` here after a fetch from `owner` failed with `error` (a peer's failure, not the loader's
    /// verdict): a failing peer never fails a get that the local loader can serve.
    private func fallBack(
        _ key: CacheKey, from owner: any PeerClient, after error: any Error, loadDeadline: ContinuousClock.Instant
    ) async throws -> Loaded {
        counters.peerErrors.increment()
        guard ContinuousClock.now < loadDeadline else {
            throw GroupCacheError(.deadlineExceeded, "get of \(key) from peer \(owner.id) timed out: \(error)", peerID: owner.id)
        }
        return try await runLoader(key, loadDeadline: loadDeadline, isPeerRequest: false)
    }

    private func runLoader(
        _ key: CacheKey, loadDeadline: ContinuousClock.Instant, isPeerRequest: Bool
    ) async throws -> Loaded {
        do {
            let context = LoadContext(group: self, deadline: loadDeadline, isPeerRequest: isPeerRequest)
            let value = try await loader(key, context)
            try checkSize(of: value, for: key, "the loader's value")
            counters.localLoads.increment()
            return Loaded(value: value, tier: .main)
        } catch {
            counters.localLoadErrs.increment()
            throw error
        }
    }
}
