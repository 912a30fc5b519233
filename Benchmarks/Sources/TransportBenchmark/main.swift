// Transport speed over loopback, beside its floor, in one run:
//   1. sequential peer fetches of a cached 64-byte value through Group.get (hot cache off, so every get crosses
//      the wire), p50/p99, beside a plain blocking TCP round trip of the same size;
//   2. 16 concurrent callers through the pooled client: gets/s;
//   3. 16 and 64 separate blocking connections, one request in flight each, straight at the server: gets/s;
// with context switches per request for each (this process's, from /proc/self/status).
//
// Run: cd Benchmarks && swift run -c release TransportBenchmark [seconds per phase, default 3]

import Foundation
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

/// Context switches of every thread of this process so far.
func contextSwitches() -> Int {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return tasks.reduce(0) { total, task in
        guard let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8) else { return total }
        return total + status.split(separator: "\n").filter { $0.hasSuffix("") && $0.contains("ctxt_switches") }
            .compactMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
            .reduce(0, +)
    }
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

// MARK: The floor: a blocking echo server and client, 64-byte messages.

func blockingConnect(port: Int) -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    return fd
}

func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ count: Int) -> Bool {
    var got = 0
    while got < count {
        let n = recv(fd, buffer.baseAddress! + got, count - got, 0)
        if n <= 0 { return false }
        got += n
    }
    return true
}

func startEchoServer() -> Int {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    listen(listener, 16)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
    }
    Thread {
        while true {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            Thread {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
                while readFully(fd, buffer, 64) { _ = send(fd, buffer.baseAddress, 64, Int32(MSG_NOSIGNAL)) }
                close(fd)
            }.start()
        }
    }.start()
    return Int(UInt16(bigEndian: address.sin_port))
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

func measureFloor() async {
    let fd = blockingConnect(port: startEchoServer())
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
    await measureSequentially("floor: blocking 64-byte TCP round trip") {
        _ = send(fd, buffer.baseAddress, 64, Int32(MSG_NOSIGNAL))
        _ = readFully(fd, buffer, 64)
    }
    close(fd)
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
            let fd = blockingConnect(port: port)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: replyLength, alignment: 8)
            var count = 0
            while Date() < end {
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard readFully(fd, buffer, replyLength) else { break }
                count += 1
            }
            counts.withLock { $0[index] = count }
            close(fd)
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
    let fd = blockingConnect(port: port)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: replyLength * depth, alignment: 8)
    let end = Date().addingTimeInterval(phaseSeconds)
    let started = Date()
    let switches = contextSwitches()
    var count = 0
    while Date() < end {
        _ = batch.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard readFully(fd, buffer, replyLength * depth) else { break }
        count += depth
    }
    close(fd)
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
await measureFloor()
try await measureClient(callerRing.owner(of: key)!, key: key)
try await measureSequential(caller: caller, key: key)
try await measureConcurrent(caller: caller, keys: ownedKeys, label: "16 callers, pooled client, 1 connection")
try await measureConcurrent(caller: pooled, keys: ownedKeys, label: "16 callers, pooled client, up to 4 connections")
measureSeparateConnections(port: ownerServer.port, key: key, connections: 16)
measureSeparateConnections(port: ownerServer.port, key: key, connections: 64)
