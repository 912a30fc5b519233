@_spi(Transport) import GroupCache
@testable import GroupCacheTCP
import Foundation
import TestSupport
import Testing
import GroupCacheLock

/// A random history of gets, sets and removes across three nodes over real sockets, with faults: a node hung
/// (the proxies into it stop forwarding, connections open), a node cut off (the proxies into and out of it
/// stop, as a partition), and a node killed and restarted empty on its address. A
/// versioned source stands behind the loaders: a remove bumps the key's version there, a set writes through to
/// it. The nodes run in this process so that the checker sees every operation; partitions between processes
/// are PartitionTests' too. Seeded: `GROUPCACHE_SEED=N` replays the same operations and faults (their
/// interleaving varies from run to run).
@Suite(.serialized) struct ConsistencyTests {
    @Test func noGetAfterARemoveSeesAnOlderVersionAndEveryValueWasTheSources() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["GROUPCACHE_SEED"] ?? "") ?? 20_261_202
        let source = VersionedSource()
        let cluster = try ConsistencyCluster(size: 3, source: source)
        let history = History()
        // Until 10 faults have come and gone and enough has happened (at most 60 s).
        let done = PeerRestartTests.Flag()
        let end = ContinuousClock.now + .seconds(60)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var random = SplitMix64(seed: seed)
                defer { done.set() }
                // Each kind of fault in turn: hung, cut off, restarted.
                for fault in 0..<10 where ContinuousClock.now < end {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 100...300, using: &random)))
                    let node = Int.random(in: 0..<3, using: &random)
                    switch fault % 3 {
                    case 0, 1:
                        let cut = fault % 3 == 1
                        cluster.setHung(node, true, cut: cut)
                        try await Task.sleep(for: .milliseconds(Int.random(in: 300...1_500, using: &random)))
                        cluster.setHung(node, false)
                        history.fault(cut ? "cut off node \(node)" : "hung node \(node)")
                    default:
                        try await cluster.restart(node)
                        history.fault("restarted node \(node)")
                    }
                }
                // Then on without faults until enough has happened to judge (a slow machine gets as much).
                while ContinuousClock.now < end && !history.isEnough {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            for worker in 0..<8 {
                tasks.addTask {
                    var random = SplitMix64(seed: seed &+ UInt64(worker + 1))
                    while !done.isSet {
                        let nodeIndex = Int.random(in: 0..<3, using: &random)
                        let group = cluster.group(nodeIndex)
                        let key = "k\(Int.random(in: 0..<12, using: &random))"
                        let started = ContinuousClock.now
                        switch Int.random(in: 0..<10, using: &random) {
                        case 0..<2:
                            let version = source.bump(key)
                            let ok = (try? await group.set(CacheKey(key), to: CacheValue("\(key)#\(version)"), timeout: .seconds(3))) != nil
                            history.record(.set, key, version: version, ok: ok, started: started, node: nodeIndex)
                        case 2..<4:
                            let version = source.bump(key)
                            let ok = (try? await group.remove(CacheKey(key), timeout: .seconds(3))) != nil
                            history.record(.remove, key, version: version, ok: ok, started: started, node: nodeIndex)
                        default:
                            let value = try? await group.get(CacheKey(key), timeout: .seconds(3)).string
                            let version = value.flatMap { VersionedSource.version(in: $0, of: key) }
                            history.record(.get, key, version: version ?? -1, ok: value != nil, started: started, value: value, node: nodeIndex)
                        }
                    }
                }
            }
            try await tasks.waitForAll()
        }
        await cluster.shutdown()

        let operations = history.operations
        let faults = history.faults
        let violations = Checker.check(operations, source: source)
        #expect(violations.isEmpty, "seed \(seed): \(violations.count) violations, first: \(violations.prefix(5)); faults: \(faults)")
        if let first = violations.first, let key = first.split(separator: ":").first {
            // The history of the first key that broke a rule, to read beside the seed.
            let start = operations.map(\.started).min()!
            func ms(_ instant: ContinuousClock.Instant) -> String { String(format: "%.1f", (instant - start) / .milliseconds(1)) }
            for operation in operations.filter({ $0.key == String(key) }).sorted(by: { $0.started < $1.started }) {
                print("history: \(operation) \(ms(operation.started))..\(ms(operation.ended)) ms")
            }
        }
        let gets = operations.filter { $0.kind == .get && $0.ok }.count
        let removes = operations.filter { $0.kind == .remove && $0.ok }.count
        #expect(gets > 200 && removes > 20, "seed \(seed): too little happened: \(gets) gets, \(removes) removes")
        #expect(faults.count == 10, "seed \(seed): faults \(faults)")
        // Loads were held open across removes: the case the engine must not cache.
        #expect(source.loadsOverlappingABump > 0, "seed \(seed): no load was open across a remove or set")
    }
}

/// What the checker proves about a history.
enum Checker {
    /// The violations of the two rules: every value read is one the source held (its version existed), and no
    /// get that started after a successful remove returned an older version, unless a set that may come after
    /// the remove wrote it: one that had not ended when the remove began, or one that failed. A failed set's
    /// outcome is unknown to its caller (it may have reached the owner, and a frame queued to a hung peer is
    /// applied when the peer runs again), so it may take effect at any time after it started, as a linearizability
    /// checker treats an operation that timed out.
    static func check(_ operations: [History.Operation], source: VersionedSource) -> [String] {
        var violations: [String] = []
        let removes = operations.filter { $0.kind == .remove && $0.ok }
        let sets = operations.filter { $0.kind == .set }
        for get in operations where get.kind == .get && get.ok {
            guard get.version >= 0, get.version <= source.current(get.key) else {
                violations.append("\(get.key): read \(get.value ?? "?"), which the source never held")
                continue
            }
            for remove in removes where remove.key == get.key && remove.ended < get.started && get.version < remove.version {
                let concurrentSet = sets.contains {
                    $0.key == get.key && $0.version == get.version && (!$0.ok || $0.ended >= remove.started)
                }
                if !concurrentSet {
                    violations.append(
                        "\(get.key): a get that started after the remove of version \(remove.version) ended read version \(get.version)")
                }
            }
        }
        return violations
    }
}

/// The store behind every loader: each key has a version, bumped by every remove and set; a load reads it, then
/// stays open a while (so that removes land during loads), then returns `<key>#<version>`.
final class VersionedSource: Sendable {
    private struct State {
        var versions: [String: Int] = [:]
        var bumps = 0
        var loadsOverlappingABump = 0
    }

    private let state = Lock(State())

    func bump(_ key: String) -> Int {
        state.withLock { state in
            state.bumps += 1
            state.versions[key, default: 0] += 1
            return state.versions[key]!
        }
    }

    func current(_ key: String) -> Int { state.withLock { $0.versions[key, default: 0] } }

    var loadsOverlappingABump: Int { state.withLock { $0.loadsOverlappingABump } }

    func load(_ key: String) async throws -> CacheValue {
        let (version, bumps) = state.withLock { ($0.versions[key, default: 0], $0.bumps) }
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
        state.withLock { if $0.bumps != bumps { $0.loadsOverlappingABump += 1 } }
        return CacheValue("\(key)#\(version)")
    }

    static func version(in value: String, of key: String) -> Int? {
        guard value.hasPrefix("\(key)#") else { return nil }
        return Int(value.dropFirst(key.count + 1))
    }
}

/// The operations of a run, with when each started and ended.
final class History: Sendable {
    enum Kind { case get, set, remove }

    struct Operation: CustomStringConvertible {
        var kind: Kind
        var key: String
        /// The version read (a get), written (a set) or bumped to (a remove).
        var version: Int
        var ok: Bool
        var started: ContinuousClock.Instant
        var ended: ContinuousClock.Instant
        var value: String?
        var node: Int

        var description: String { "\(kind) \(key) v\(version) at node \(node) \(ok ? "ok" : "failed")" }
    }

    private let log = Lock<(operations: [Operation], faults: [String])>(([], []))

    func record(
        _ kind: Kind, _ key: String, version: Int, ok: Bool, started: ContinuousClock.Instant, value: String? = nil, node: Int
    ) {
        let operation = Operation(kind: kind, key: key, version: version, ok: ok, started: started, ended: .now, value: value, node: node)
        log.withLock { $0.operations.append(operation) }
    }

    func fault(_ description: String) { log.withLock { $0.faults.append(description) } }

    var operations: [Operation] { log.withLock { $0.operations } }

    /// Whether the history has the gets and removes a verdict needs: 200 successful gets, 20 removes.
    var isEnough: Bool {
        log.withLock { log in
            log.operations.lazy.filter { $0.kind == .get && $0.ok }.count > 200
                && log.operations.lazy.filter { $0.kind == .remove && $0.ok }.count > 20
        }
    }
    var faults: [String] { log.withLock { $0.faults } }
}

/// Three nodes in this process. Each node reaches each other one through a ``FaultProxy`` of that pair's own,
/// so that a node can be hung (every proxy into it stops: it looks frozen to the others, and can still ask
/// them) or cut off (the proxies into it and out of it stop, as a partition). The ring names nodes by ID, and
/// each node dials its own proxy for each peer. A restart replaces a node's server, registry and caches with
/// empty ones on the same port.
final class ConsistencyCluster: Sendable {
    private struct Node {
        var server: TCPServer
        var group: Group
    }

    /// `proxies[from][to]`: the way from node `from` to node `to` (nil on the diagonal).
    private let proxies: [[FaultProxy?]]
    private let ports: [Int]
    private let nodes: Lock<[Node]>
    private let source: VersionedSource
    /// Client options for a test's time scale: a hang is found in 100 ms and probed every 100 ms.
    private static let client = TCPClientOptions(
        reconnectBackoff: .milliseconds(20), pingAfter: .milliseconds(50), pingTimeout: .milliseconds(50),
        probeInterval: .milliseconds(100))

    init(size: Int, source: VersionedSource) throws {
        self.source = source
        var servers: [(TCPServer, Int, GroupRegistry, DeferredPeerPicker)] = []
        for _ in 0..<size {
            let picker = DeferredPeerPicker()
            let registry = GroupRegistry(peers: picker)
            let server = TCPServer(registry: registry)
            servers.append((server, try server.start(), registry, picker))
        }
        let ports = servers.map(\.1)
        self.ports = ports
        proxies = (0..<size).map { from in (0..<size).map { to in from == to ? nil : FaultProxy(to: ports[to]) } }
        var nodes: [Node] = []
        for (index, (server, _, registry, picker)) in servers.enumerated() {
            let members = Self.members(seenFrom: index, ports: ports, proxies: proxies)
            let group = try Self.makeGroup(index, members: members, registry: registry, picker: picker, source: source)
            nodes.append(Node(server: server, group: group))
        }
        self.nodes = Lock(nodes)
    }

    /// Node `index`'s view of the cluster: every node by its ID, each other one at the proxy of that pair.
    private static func members(seenFrom index: Int, ports: [Int], proxies: [[FaultProxy?]]) -> [Peer] {
        ports.indices.map { other in
            let port = other == index ? ports[index] : proxies[index][other]!.port
            return Peer(id: "http://node-\(other)", address: "127.0.0.1:\(port)")
        }
    }

    private static func makeGroup(
        _ index: Int, members: [Peer], registry: GroupRegistry, picker: DeferredPeerPicker, source: VersionedSource
    ) throws -> Group {
        let ring = TCPTransport(options: client).makePeerRing(local: members[index])
        ring.setPeers(members)
        picker.setPicker(ring)
        return try registry.makeGroup(
            name: "things", cacheBytes: 1 << 20,
            options: GroupOptions(removeRetryInterval: .milliseconds(50))
        ) { key, _ in try await source.load(key.description) }
    }

    func group(_ index: Int) -> Group { nodes.withLock { $0[index].group } }

    /// Stops (`true`) or restores the ways into node `index`, and out of it too when `cut`.
    func setHung(_ index: Int, _ hung: Bool, cut: Bool = false) {
        for other in ports.indices where other != index {
            proxies[other][index]?.setHung(hung)
            if cut || !hung { proxies[index][other]?.setHung(hung) }
        }
    }

    func restart(_ index: Int) async throws {
        let old = nodes.withLock { $0[index].server }
        await old.shutdown()
        let picker = DeferredPeerPicker()
        let registry = GroupRegistry(peers: picker)
        let server = TCPServer(registry: registry)
        // The port was just freed; SO_REUSEADDR lets the new server take it at once.
        try server.start(port: ports[index])
        let members = Self.members(seenFrom: index, ports: ports, proxies: proxies)
        let group = try Self.makeGroup(index, members: members, registry: registry, picker: picker, source: source)
        nodes.withLock { $0[index] = Node(server: server, group: group) }
    }

    func shutdown() async {
        for index in ports.indices { setHung(index, false) }
        for server in nodes.withLock({ $0.map(\.server) }) { await server.shutdown() }
    }
}
