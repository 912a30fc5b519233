// Transport speed over loopback, beside its floor, in one run:
//   1. sequential peer fetches of a cached 64-byte value through Group.get (hot cache off, so every get crosses
//      the wire), p50/p99, beside a plain blocking TCP round trip of the same size;
//   2. 16 concurrent callers through the pooled client: gets/s;
//   3. 16 and 64 separate blocking connections, one request in flight each, straight at the server: gets/s;
// with context switches per request for each (this process's, from /proc/self/status).
//
// Run: cd Benchmarks && swift run -c release TransportBenchmark [seconds per phase, default 3]

import Foundation
import BenchSupport
import GroupCache
import GroupCacheTCP
import GroupCacheWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

let phaseSeconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 3
/// `--only-sequential`, `--only-concurrent`: run that phase alone, for a profiler.
let onlySequential = CommandLine.arguments.contains("--only-sequential")
let onlyConcurrent = CommandLine.arguments.contains("--only-concurrent")
let value = CacheValue([UInt8](repeating: 0x61, count: 64))

// MARK: Two nodes in this process: the owner, and a caller that always asks it.

func makeNode(hotCache: Bool, maxConnections: Int) throws -> (Group, TCPServer, Peer, PeerRing) {
    let picker = DeferredPeerPicker()
    let registry = GroupRegistry(peers: picker)
    let server = TCPServer(registry: registry)
    let port = try server.start()
    let peer = Peer(host: "127.0.0.1", port: port, idFormat: .url)
    let ring = TCPTransport(options: TCPClientOptions(maxConnectionsPerPeer: maxConnections)).makePeerRing(local: peer)
    picker.setPicker(ring)
    let group = try registry.makeGroup(name: "bench", cacheBytes: 64 << 20, options: GroupOptions(hotCache: hotCache)) { _, _ in value }
    return (group, server, peer, ring)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

func report(_ name: String, latencies: [Double], switches: Int) {
    let sorted = latencies.sorted()
    let line = String(
        format: "%-46@ p50 %6.1f us  p99 %6.1f us  n=%d  %.1f context switches/request", name as NSString,
        percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.count, Double(switches) / Double(sorted.count))
    print(line)
}

func report(_ name: String, requests: Int, seconds: Double, switches: Int) {
    print(String(
        format: "%-46@ %8.0f gets/s  n=%d  %.1f context switches/request", name as NSString,
        Double(requests) / seconds, requests, Double(switches) / Double(max(1, requests))))
}

/// Runs `request` back to back for the phase's time and reports its latencies.
func measureSequentially(_ label: String, _ request: () async throws -> Void) async rethrows {
    var latencies: [Double] = []
    let clock = ContinuousClock()
    let end = clock.now + .seconds(phaseSeconds)
    let switches = contextSwitches()
    while clock.now < end {
        let start = clock.now
        try await request()
        latencies.append(Double((clock.now - start).components.attoseconds) / 1e12)
    }
    report(label, latencies: latencies, switches: contextSwitches() - switches)
}

func measureFloor() async throws {
    let connection = try BlockingConnection(port: try EchoServer.start(requestBytes: 64, replyBytes: 64))
    let scratch = [UInt8](repeating: 0x61, count: 64)
    try await measureSequentially("floor: blocking 64-byte TCP round trip") {
        try EchoServer.request(connection, requestBytes: 64, replyBytes: 64, scratch: scratch)
    }
}

// MARK: Phases

func measureSequential(caller: Group, key: CacheKey) async throws {
    try await measureSequentially("peer fetch via Group.get, 1 connection") { _ = try await caller.get(key) }
}

func measureClient(_ client: any PeerClient, key: CacheKey) async throws {
    try await measureSequentially("peer client get, no engine, 1 connection") {
        _ = try await client.get(group: "bench", key: key, deadline: .now + .seconds(5))
    }
}

/// One task per key, each getting its key (cached at the owner) over and over through `get`: distinct keys, so
/// the single-flight does not fold the callers into one request.
func measureConcurrent(
    keys: [CacheKey], label: String, get: @escaping @Sendable (CacheKey) async throws -> Void
) async throws {
    let clock = ContinuousClock()
    let started = clock.now
    let end = started + .seconds(phaseSeconds)
    let switches = contextSwitches()
    let total = try await withThrowingTaskGroup(of: Int.self) { tasks in
        for key in keys {
            tasks.addTask {
                var count = 0
                while clock.now < end {
                    try await get(key)
                    count += 1
                }
                return count
            }
        }
        return try await tasks.reduce(0, +)
    }
    let elapsed = clock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    report(label, requests: total, seconds: seconds, switches: contextSwitches() - switches)
}

func measureConcurrent(caller: Group, keys: [CacheKey], label: String) async throws {
    try await measureConcurrent(keys: keys, label: label) { _ = try await caller.get($0) }
}

/// `connections` blocking clients, each on its own thread and connection, one GET in flight each.
func measureSeparateConnections(port: Int, key: CacheKey, connections: Int) {
    var encoded: [UInt8] = []
    Frame.encode(kind: .get, id: 1, message: GetRequest(group: Array("bench".utf8), key: key.bytes), to: &encoded)
    let request = encoded
    let replyLength = GetResponse(value: value.bytes, expire: 0).encoded().count + FrameHeader.byteCount
    let counts = Mutex([Int](repeating: 0, count: connections))
    let done = DispatchGroup()
    let end = Date().addingTimeInterval(phaseSeconds)
    let switches = contextSwitches()
    let started = Date()
    for index in 0..<connections {
        done.enter()
        Thread {
            var count = 0
            if let connection = try? BlockingConnection(port: port) {
                while Date() < end {
                    guard (try? connection.send(request)) != nil, (try? connection.skip(replyLength)) != nil else { break }
                    count += 1
                }
            }
            counts.withLock { $0[index] = count }
            done.leave()
        }.start()
    }
    done.wait()
    report(
        "server: \(connections) connections, 1 in flight each", requests: counts.withLock { $0.reduce(0, +) },
        seconds: Date().timeIntervalSince(started), switches: contextSwitches() - switches)
}

let (owner, ownerServer, ownerPeer, _) = try makeNode(hotCache: true, maxConnections: 4)
let (caller, _, callerPeer, callerRing) = try makeNode(hotCache: false, maxConnections: 1)
callerRing.setPeers([ownerPeer, callerPeer])
let (pooled, _, pooledPeer, pooledRing) = try makeNode(hotCache: false, maxConnections: 4)
pooledRing.setPeers([ownerPeer, pooledPeer])
// Keys the owner owns in both callers' rings, so that every get crosses the wire; cached at the owner.
let ownedKeys = Array((0...).lazy.map { CacheKey("user:\($0)") }.filter {
    callerRing.ownerPeer(of: $0) == ownerPeer && pooledRing.ownerPeer(of: $0) == ownerPeer
}.prefix(16))
for key in ownedKeys { _ = try await owner.get(key) }
let key = ownedKeys[0]

if onlySequential {
    try await measureSequential(caller: caller, key: key)
    exit(0)
}
/// The peer client directly, one task per key: the transport without the engine.
func measureConcurrentClient(_ client: any PeerClient, keys: [CacheKey]) async throws {
    try await measureConcurrent(keys: keys, label: "16 callers, peer client, no engine, 1 connection") {
        _ = try await client.get(group: "bench", key: $0, deadline: .now + .seconds(5))
    }
}

/// One blocking connection with `depth` requests written at once, then their replies read: the server under
/// pipelining, without our client.
func measurePipelinedServer(port: Int, key: CacheKey, depth: Int) {
    var batch: [UInt8] = []
    for id in 1...depth {
        Frame.encode(kind: .get, id: UInt32(id), message: GetRequest(group: Array("bench".utf8), key: key.bytes), to: &batch)
    }
    let replyLength = GetResponse(value: value.bytes, expire: 0).encoded().count + FrameHeader.byteCount
    guard let connection = try? BlockingConnection(port: port) else { return print("cannot connect to \(port)") }
    let end = Date().addingTimeInterval(phaseSeconds)
    let started = Date()
    let switches = contextSwitches()
    var count = 0
    while Date() < end {
        guard (try? connection.send(batch)) != nil, (try? connection.skip(replyLength * depth)) != nil else { break }
        count += depth
    }
    report("server: 1 connection, \(depth) pipelined, blocking client", requests: count,
        seconds: Date().timeIntervalSince(started), switches: contextSwitches() - switches)
}

if onlyConcurrent {
    measurePipelinedServer(port: ownerServer.port, key: key, depth: 16)
    try await measureConcurrentClient(callerRing.owner(of: key)!, keys: ownedKeys)
    try await measureConcurrent(caller: caller, keys: ownedKeys, label: "16 callers, pooled client, 1 connection")
    exit(0)
}
print("swift-groupcache transport benchmark: \(phaseSeconds) s per phase, 64-byte values, loopback, 2 cores")
try await measureFloor()
try await measureClient(callerRing.owner(of: key)!, key: key)
try await measureSequential(caller: caller, key: key)
try await measureConcurrent(caller: caller, keys: ownedKeys, label: "16 callers, pooled client, 1 connection")
try await measureConcurrent(caller: pooled, keys: ownedKeys, label: "16 callers, pooled client, up to 4 connections")
measureSeparateConnections(port: ownerServer.port, key: key, connections: 16)
measureSeparateConnections(port: ownerServer.port, key: key, connections: 64)
