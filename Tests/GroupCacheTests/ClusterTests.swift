@testable import GroupCache
import GroupCacheInMemory
import TestSupport
import Testing

/// Nodes of one in-process cluster, sharing one backing source, over the in-memory transport.
struct Cluster {
    struct Node {
        let peer: Peer
        let ring: PeerRing
        let registry: GroupRegistry
        let group: Group
    }

    let network = InMemoryNetwork()
    let nodes: [Node]
    let source: Source

    init(
        size: Int = 3, source: Source = Source(), hotCache: Bool = true, clocks: [any WallClock]? = nil,
        loadTimeouts: [Duration]? = nil, maxPendingRemoves: Int = 10_000
    ) throws {
        let peers = (0..<size).map { Peer(host: "10.0.0.\($0 + 1)", port: 8080, idFormat: .url) }
        var nodes: [Node] = []
        for (index, peer) in peers.enumerated() {
            let ring = network.makePeerRing(local: peer)
            ring.setPeers(peers)
            let registry = GroupRegistry(peers: ring, clock: clocks?[index] ?? SystemWallClock())
            network.attach(registry, as: peer.id)
            let group = try registry.makeGroup(
                name: "things", cacheBytes: 1 << 20,
                options: GroupOptions(
                    hotCache: hotCache, loadTimeout: loadTimeouts?[index] ?? .seconds(30), maxPendingRemoves: maxPendingRemoves,
                    removeRetryInterval: .milliseconds(20)),
                loader: source.loader)
            nodes.append(Node(peer: peer, ring: ring, registry: registry, group: group))
        }
        self.nodes = nodes
        self.source = source
    }

    func owner(of key: CacheKey) -> Int {
        let id = nodes[0].ring.ownerPeer(of: key).id
        return nodes.firstIndex { $0.peer.id == id }!
    }

    /// A key owned by node `index`.
    func key(ownedBy index: Int, prefix: String = "key") -> CacheKey {
        (0...).lazy.map { CacheKey("\(prefix)-\($0)") }.first { owner(of: $0) == index }!
    }

    var totalPeerErrors: Int { nodes.map(\.group.stats.peerErrors).reduce(0, +) }

    /// Items in either cache, per node.
    func items() -> [Int] {
        nodes.map { $0.group.stats.mainCache.items + $0.group.stats.hotCache.items }
    }
}

@Suite struct ClusterTests {
    @Test func everyNodeAgreesOnOwners() throws {
        let cluster = try Cluster()
        for index in 0..<100 {
            let key = CacheKey("k\(index)")
            let owners = Set(cluster.nodes.map { $0.ring.ownerPeer(of: key) })
            #expect(owners.count == 1)
        }
    }

    /// The thundering herd: 1,000 concurrent gets of one cold key, spread over every node, load it once.
    @Test func aHerdLoadsOnce() async throws {
        let gate = Gate()
        let cluster = try Cluster(source: Source(gate: gate))
        let key: CacheKey = "popular"
        let values = try await withThrowingTaskGroup(of: String.self) { tasks in
            for index in 0..<1_000 {
                let group = cluster.nodes[index % 3].group
                tasks.addTask { try await group.get(key).string }
            }
            #expect(await eventually { cluster.source.loadCount == 1 })
            gate.open()
            return try await tasks.reduce(into: []) { $0.append($1) }
        }
        #expect(values.count == 1_000 && Set(values) == ["popular@v0"])
        #expect(cluster.source.loadCount == 1, "got \(cluster.source.loadCount) loads; want 1")
        #expect(cluster.totalPeerErrors == 0)
        let owner = cluster.nodes[cluster.owner(of: key)].group.stats
        #expect(owner.localLoads == 1 && owner.mainCache.items == 1)
        for (index, node) in cluster.nodes.enumerated() where index != cluster.owner(of: key) {
            #expect(node.group.stats.hotCache.items == 1, "a non-owner kept no hot copy")
        }
    }

    /// The first caller fetches in its own task; when it leaves (cancelled) others waiting on the same fetch
    /// still get the value, and the owner still loads once.
    @Test func aCallerThatLeavesEarlyDoesNotFailTheOthersWaitingOnItsFetch() async throws {
        let gate = Gate()
        let cluster = try Cluster(source: Source(gate: gate))
        let key = cluster.key(ownedBy: 1)
        let node = cluster.nodes[0].group
        let first = Task { try await node.get(key, timeout: .seconds(10)) }
        #expect(await eventually { cluster.source.loadCount == 1 })
        let second = Task { try await node.get(key, timeout: .seconds(10)) }
        #expect(await eventually { node.remoteFlights.waiterCount(for: key) == 1 })
        first.cancel()
        let left = await first.result
        #expect(throws: CancellationError.self) { try left.get() }
        gate.open()
        #expect(try await second.value.string == "\(key)@v0")
        #expect(cluster.source.loadCount == 1, "got \(cluster.source.loadCount) loads; want 1")
        #expect(cluster.totalPeerErrors == 0)
    }

    @Test func repeatGetsAtANonOwnerAreServedFromItsHotCache() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 1)
        let node = cluster.nodes[0].group
        _ = try await node.get(key)
        let requests = cluster.network.requests
        for _ in 0..<10 { _ = try await node.get(key) }
        #expect(cluster.network.requests == requests, "a hot-cache hit crossed the network")
        #expect(node.stats.peerLoads == 1 && node.stats.cacheHits == 10)
    }

    @Test func withoutAHotCacheEveryGetAsksTheOwner() async throws {
        let cluster = try Cluster(hotCache: false)
        let key = cluster.key(ownedBy: 1)
        for _ in 0..<3 { _ = try await cluster.nodes[0].group.get(key) }
        #expect(cluster.nodes[0].group.stats.peerLoads == 3)
        #expect(cluster.source.loadCount == 1)
    }

    /// A get that starts after remove() returned never sees the old value, even while the old load still runs.
    @Test func aGetAfterRemoveNeverSeesTheOldValue() async throws {
        let gate = Gate()
        let slow = Source(gate: gate)
        let cluster = try Cluster(source: slow)
        let key = cluster.key(ownedBy: 1)
        // Long timeouts: the test is about order, and a sanitizer build runs it slowly.
        let early = Task { try await cluster.nodes[0].group.get(key, timeout: .seconds(60)) }
        #expect(await eventually { slow.loadCount == 1 })

        slow.bump(key)
        try await cluster.nodes[2].group.remove(key)
        let late = Task { try await cluster.nodes[0].group.get(key, timeout: .seconds(60)) }
        #expect(await eventually { slow.loadCount == 2 }, "the get after remove joined the old load")
        gate.open()
        #expect(try await late.value.string == "\(key)@v1")
        #expect(try await early.value.string == "\(key)@v0")
        for node in cluster.nodes {
            #expect(try await node.group.get(key).string == "\(key)@v1", "a node cached the detached load")
        }
    }

    @Test func removeReachesEveryNode() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 2)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        #expect(cluster.items() == [1, 1, 1])
        try await cluster.nodes[0].group.remove(key)
        #expect(cluster.items() == [0, 0, 0])
        cluster.source.bump(key)
        #expect(try await cluster.nodes[1].group.get(key).string == "\(key)@v1")
    }

    @Test func removeNamesEveryPeerItCouldNotReach() async throws {
        let cluster = try Cluster(size: 4)
        let key = cluster.key(ownedBy: 1)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        cluster.network.setReachable(false, cluster.nodes[2].peer.id)
        cluster.network.setReachable(false, cluster.nodes[3].peer.id)
        await #expect {
            try await cluster.nodes[0].group.remove(key)
        } throws: { error in
            let error = error as! GroupCacheError
            return error.code == .peersFailed
                && error.failures.map(\.peerID) == [cluster.nodes[2].peer.id, cluster.nodes[3].peer.id]
        }
        #expect(cluster.items() == [0, 0, 1, 1], "the owner and the caller removed; the cut-off peers could not")
    }

    /// The cut-off peers get the remove once they answer again: the cluster converges without waiting for
    /// expiry.
    @Test func aHealedPartitionGetsTheRemovesItMissed() async throws {
        let cluster = try Cluster(size: 4)
        let key = cluster.key(ownedBy: 1)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        for cut in [2, 3] { cluster.network.setReachable(false, cluster.nodes[cut].peer.id) }
        await #expect(throws: GroupCacheError.self) { try await cluster.nodes[0].group.remove(key) }
        #expect(cluster.nodes[0].group.stats.removesPending == 2)
        // Retries while the partition lasts change nothing.
        try await Task.sleep(for: .milliseconds(60))
        #expect(cluster.items() == [0, 0, 1, 1] && cluster.nodes[0].group.stats.removesPending == 2)
        for cut in [2, 3] { cluster.network.setReachable(true, cluster.nodes[cut].peer.id) }
        try await Self.waitUntil { cluster.nodes[0].group.stats.removesPending == 0 }
        #expect(cluster.items() == [0, 0, 0, 0])
        let stats = cluster.nodes[0].group.stats
        #expect(stats.removesRetried == 2 && stats.removesDropped == 0)
    }

    /// A set that missed a peer queues a remove there, so the peer drops its old copy and fetches the new value.
    @Test func aSetThatMissedAPeerRemovesItsOldCopyOnceItAnswers() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 1)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        cluster.network.setReachable(false, cluster.nodes[2].peer.id)
        await #expect(throws: GroupCacheError.self) { try await cluster.nodes[0].group.set(key, to: CacheValue("new")) }
        cluster.network.setReachable(true, cluster.nodes[2].peer.id)
        try await Self.waitUntil { cluster.nodes[2].group.stats.hotCache.items == 0 }
        #expect(try await cluster.nodes[2].group.get(key).string == "new")
    }

    @Test func theRemoveQueueIsBoundedAndCountsWhatItDrops() async throws {
        let cluster = try Cluster(maxPendingRemoves: 3)
        cluster.network.setReachable(false, cluster.nodes[2].peer.id)
        for index in 0..<5 {
            try? await cluster.nodes[0].group.remove(cluster.key(ownedBy: 1, prefix: "gone-\(index)"))
        }
        let stats = cluster.nodes[0].group.stats
        #expect(stats.removesPending == 3 && stats.removesDropped == 2)
    }

    /// Polls `condition` every 10 ms for up to 5 s.
    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition(), "not within 5 s")
    }

    @Test func aFailingOwnerAbortsRemove() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 1)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        cluster.network.setReachable(false, cluster.nodes[1].peer.id)
        await #expect {
            try await cluster.nodes[0].group.remove(key)
        } throws: { ($0 as! GroupCacheError).failures.map(\.peerID) == [cluster.nodes[1].peer.id] }
        #expect(cluster.items() == [1, 1, 1], "nothing may be removed when the owner could not remove")
    }

    @Test func setStoresOnEveryNodeAndDropsHotCopies() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 0)
        for node in cluster.nodes { _ = try await node.group.get(key) }
        try await cluster.nodes[1].group.set(key, to: CacheValue("new"))
        for node in cluster.nodes {
            #expect(try await node.group.get(key).string == "new")
            #expect(node.group.stats.mainCache.items == 1 && node.group.stats.hotCache.items == 0)
        }
        #expect(cluster.source.loadCount == 1)
    }

    @Test func removeKeysClearsEveryNode() async throws {
        let cluster = try Cluster()
        let keys = (0..<30).map { CacheKey("bulk-\($0)") }
        for node in cluster.nodes { for key in keys { _ = try await node.group.get(key) } }
        #expect(cluster.items() == [30, 30, 30])
        try await cluster.nodes[0].group.removeKeys(keys)
        #expect(cluster.items() == [0, 0, 0])
    }

    @Test func anUnreachableOwnerFallsBackToALocalLoad() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 1)
        cluster.network.setReachable(false, cluster.nodes[1].peer.id)
        #expect(try await cluster.nodes[0].group.get(key).string == "\(key)@v0")
        let stats = cluster.nodes[0].group.stats
        #expect(stats.peerErrors == 1 && stats.localLoads == 1 && stats.mainCache.items == 1)
        #expect(cluster.network.requests == 1, "the unreachable owner was asked \(cluster.network.requests) times")
    }

    @Test func notFoundAtTheOwnerReachesTheCallerWithoutAFallback() async throws {
        let cluster = try Cluster()
        let key = cluster.key(ownedBy: 1, prefix: "missing")
        await #expect {
            _ = try await cluster.nodes[0].group.get(key)
        } throws: { ($0 as? GroupCacheError)?.code == .notFound }
        #expect(cluster.source.loadCount == 1)
        #expect(cluster.totalPeerErrors == 0)
        // A key this node owns fails here, naming no peer.
        let own = cluster.key(ownedBy: 0, prefix: "missing")
        await #expect { _ = try await cluster.nodes[0].group.get(own) } throws: { ($0 as? GroupCacheError)?.peerID == nil }
    }

    /// The owner's load runs past its load timeout: the caller gets loadFailed and does not load the key itself,
    /// since a herd of fallback loads is what the owner exists to prevent.
    @Test func aLoadTimeoutAtTheOwnerFailsTheCallerWithoutAFallback() async throws {
        let never = Gate()
        let cluster = try Cluster(source: Source(gate: never), loadTimeouts: [.seconds(30), .milliseconds(20), .seconds(30)])
        let key = cluster.key(ownedBy: 1)
        let error = await #expect(throws: GroupCacheError.self) { try await cluster.nodes[0].group.get(key) }
        #expect(error?.code == .loadFailed, "got \(String(describing: error))")
        #expect(error?.message.contains("load timeout") == true, "got \(String(describing: error))")
        #expect(error?.peerID == cluster.nodes[1].peer.id, "the error names the owner that failed")
        #expect(cluster.source.loadCount == 1)
        #expect(cluster.totalPeerErrors == 0)
        never.open()
    }

    /// The caller's clock runs ahead of the owner's: the value the owner sends has already expired by the
    /// caller's clock, so the caller refuses it and loads locally.
    @Test func aValueThatArrivesExpiredIsRefused() async throws {
        let network = InMemoryNetwork()
        let caller = Peer(id: "caller", address: "c:1")
        let owner = Peer(id: "owner", address: "o:1")
        let clocks = [ManualWallClock(2_000_000_000_000), ManualWallClock(1_000_000_000_000)]
        let groups = try zip([caller, owner], clocks).map { peer, clock in
            let ring = network.makePeerRing(local: peer)
            ring.setPeers([caller, owner])
            let registry = GroupRegistry(peers: ring, clock: clock)
            network.attach(registry, as: peer.id)
            return try registry.makeGroup(name: "g", cacheBytes: 1 << 20) { key, context in
                CacheValue(Array("\(peer.id)".utf8), expiryNanoseconds: context.group.clock.now() + 1_000_000_000)
            }
        }
        let ring = network.makePeerRing(local: caller)
        ring.setPeers([caller, owner])
        let key = (0...).lazy.map { CacheKey("k\($0)") }.first { ring.ownerPeer(of: $0) == owner }!
        let value = try await groups[0].get(key)
        #expect(value.string == "caller", "got the owner's expired value")
        #expect(groups[0].stats.peerErrors == 1 && groups[1].stats.localLoads == 1)
    }

    /// Two nodes whose rings disagree each think the other owns the key. A request from a peer is served where
    /// it lands, so neither forwards it back: both gets finish, with no cycle (Mailgun #72).
    @Test func disagreeingRingsDoNotDeadlock() async throws {
        let network = InMemoryNetwork()
        let source = Source()
        let a = Peer(id: "a", address: "a:1")
        let b = Peer(id: "b", address: "b:1")
        // Two rings over the same members can only disagree if they place points differently: A hashes as
        // golang does (crc32), B as Mailgun does (fnv1). Some key is then B's to A and A's to B.
        let ringA = network.makePeerRing(local: a, configuration: .golang)
        ringA.setPeers([a, b])
        let ringB = network.makePeerRing(local: b, configuration: .mailgunV2)
        ringB.setPeers([a, b])
        let found = (0..<10_000).lazy.map { CacheKey("k\($0)") }.first {
            ringA.ownerPeer(of: $0) == b && ringB.ownerPeer(of: $0) == a
        }
        let key = try #require(found, "no key on which the two rings disagree")
        let groups = try [(ringA, a), (ringB, b)].map { ring, peer in
            let registry = GroupRegistry(peers: ring)
            network.attach(registry, as: peer.id)
            return try registry.makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        }
        async let fromA = groups[0].get(key, timeout: .seconds(5))
        async let fromB = groups[1].get(key, timeout: .seconds(5))
        let values = try await [fromA, fromB]
        #expect(values.allSatisfy { $0.string == "\(key)@v0" })
        #expect(network.requests <= 2, "a request was forwarded again")
        #expect(groups.map(\.stats.peerErrors) == [0, 0])
    }
}
