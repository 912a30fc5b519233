import Foundation
import GroupCache
import GroupCacheRing
import GroupCacheWire
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Clusters of real `groupcache-node` processes on loopback.
@Suite(.serialized) struct NodeProcessTests {
    /// 1,000 keys, each asked for at every node at once: every key is loaded exactly once in the cluster.
    @Test func aThreeProcessClusterLoadsEachKeyOnce() async throws {
        let nodes = try await NodeProcess.cluster(3, arguments: ["--load-delay-ms", "2"])
        let clients = try nodes.map { try NodeClient($0) }
        let keys = (0..<1_000).map { "key-\($0)" }
        let values = try await withThrowingTaskGroup(of: (String, String).self) { tasks in
            for key in keys {
                for client in clients {
                    tasks.addTask { (key, String(decoding: try await client.get(key).value, as: UTF8.self)) }
                }
            }
            return try await tasks.reduce(into: [String: Set<String>]()) { $0[$1.0, default: []].insert($1.1) }
        }
        #expect(values.count == 1_000)
        #expect(values.values.allSatisfy { $0.count == 1 }, "some key had two values: loaded twice")
        let stats = try await clients.asyncMap { try await $0.stats() }
        let loads = stats.map(\.localLoads)
        #expect(loads.reduce(0, +) == 1_000, "local loads per node: \(loads)")
        // Each node loaded exactly the keys the golang ring gives it.
        let ring = HashRing(flavor: .crc32, members: nodes.map { "http://\($0.address)" })
        let owned = nodes.map { node in keys.filter { ring.owner(of: $0) == "http://\(node.address)" }.count }
        #expect(loads == owned.map(UInt64.init), "local loads per node: \(loads); owned: \(owned)")
        #expect(stats.map(\.peerErrors) == [0, 0, 0])
    }

    @Test func removeReachesEveryNode() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let clients = try nodes.map { try NodeClient($0) }
        for client in clients { _ = try await client.get("doomed") }
        let itemsBefore = try await clients.asyncMap { try await $0.stats() }.map { $0.mainCache.items + $0.hotCache.items }
        #expect(itemsBefore == [1, 1, 1], "the owner's main copy and two hot copies")
        try await clients[1].remove("doomed")
        let itemsAfter = try await clients.asyncMap { try await $0.stats() }.map { $0.mainCache.items + $0.hotCache.items }
        #expect(itemsAfter == [0, 0, 0])
    }

    @Test func expiryCrossesTheWireInNanoseconds() async throws {
        let nodes = try await NodeProcess.cluster(2, arguments: ["--ttl-seconds", "300"])
        let clients = try nodes.map { try NodeClient($0) }
        let before = Int64(Date().timeIntervalSince1970 * 1e9)
        let first = try await clients[0].get("ttl")
        let again = try await clients[1].get("ttl")
        let after = Int64(Date().timeIntervalSince1970 * 1e9)
        let ttl: Int64 = 300_000_000_000
        #expect((before + ttl - 1_000_000_000)...(after + ttl) ~= first.expire, "got \(first.expire)")
        #expect(again.expire == first.expire, "the copy at the other node has another expiry")
    }

    /// Out of descriptors, a node pauses accepting rather than spinning on a listener that stays readable, and
    /// accepts the waiting connections once descriptors are free again.
    @Test func outOfDescriptorsANodePausesAcceptingWithoutSpinning() async throws {
        let node = try await NodeProcess.start()
        // A limit that leaves the node 40 free descriptor numbers (20 connections), whatever it holds already:
        // new descriptors take the lowest free numbers, and must be below the limit.
        let pid = node.process.processIdentifier
        let held = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { Int($0) })
        var bound = 0, free = 0
        while free < 40 {
            if !held.contains(bound) { free += 1 }
            bound += 1
        }
        let limit = Process()
        limit.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        limit.arguments = ["--pid", "\(pid)", "--nofile=\(bound):\(bound)"]
        try limit.run()
        limit.waitUntilExit()
        try #require(limit.terminationStatus == 0, "prlimit failed")

        // Each connection takes two descriptors at the node (the socket and its dup): 60 cannot all be accepted.
        var connections = try (0..<60).map { _ in try RawConnection(port: node.port) }
        for (index, connection) in connections.enumerated() { try connection.send([Frame(kind: .ping, id: UInt32(index + 1))]) }
        let answered = try await Array(connections.prefix(3)).asyncMap { try await $0.nextFrame(timeout: .seconds(5))?.kind }
        #expect(answered == [.pong, .pong, .pong], "limit \(bound), \(held.count) descriptors held: \(held.sorted())")
        let cpuBefore = node.cpuTime
        try await Task.sleep(for: .milliseconds(500))
        let cpu = node.cpuTime - cpuBefore
        #expect(cpu < .milliseconds(250), "the node used \(cpu) of CPU in 500 ms at its descriptor limit")

        // Free descriptors (50 connections close; the last 10 need 20 of the 40): each connection that waited is
        // answered, or was refused with UNAVAILABLE (one per pause, while the node had no descriptor to spare);
        // none is dropped without a word.
        let waiting = Array(connections.dropFirst(50))
        connections.removeAll()
        var outcomes: [String] = []
        for connection in waiting {
            let frame = try await connection.nextFrame()
            outcomes.append(frame?.kind == .pong ? "pong" : frame?.errorCode == .unavailable ? "refused" : "\(String(describing: frame))")
        }
        #expect(outcomes.allSatisfy { $0 == "pong" || $0 == "refused" }, "got \(outcomes)")
        #expect(outcomes.contains("pong"), "no waiting connection was served after descriptors were freed")
        let stats = try await NodeClient(node).nodeStats()
        #expect(stats.acceptPauses >= 1, "accepting never paused")
    }

    @Test func theNodesLimitFlagsReachItsServer() async throws {
        let node = try await NodeProcess.start(arguments: ["--max-connections", "1"])
        let first = try RawConnection(port: node.port)
        try first.send([Frame(kind: .ping, id: 1)])
        #expect(try await first.nextFrame()?.kind == .pong)
        let second = try RawConnection(port: node.port)
        #expect(try await second.nextFrame()?.errorCode == .unavailable)
    }

    @Test func aKilledPeerMakesGetsLoadLocallyWithinTheDeadline() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let clients = try nodes.map { try NodeClient($0) }
        // Keys node 2 owns: node 0 fetches them from it.
        var owned: [String] = []
        for index in 0..<200 where owned.count < 20 {
            let key = "victim-\(index)"
            if String(decoding: try await clients[1].get(key).value, as: UTF8.self).hasSuffix(nodes[2].address) {
                owned.append(key)
            }
        }
        try #require(owned.count == 20)
        nodes[2].kill()
        let started = ContinuousClock.now
        for key in owned {
            let value = String(decoding: try await clients[0].get(key, timeout: .seconds(5)).value, as: UTF8.self)
            #expect(value == "\(key)@http://\(nodes[0].address)")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try await clients[0].stats().peerErrors >= 1)
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// `gcctl` against real nodes: what it prints, and the exit codes scripts rely on.
@Suite(.serialized) struct GroupCacheControlTests {
    typealias Run = ProcessOutput

    /// Runs gcctl with `arguments`, through `launcher` if given (`ip netns exec NAME`).
    static func gcctl(_ arguments: [String], launcher: [String] = []) async throws -> Run {
        try await offThePool { try runGcctl(arguments, launcher: launcher) }
    }

    static func runGcctl(_ arguments: [String], launcher: [String] = []) throws -> Run {
        try runToEnd(launcher + [NodeProcess.productsFolder.appendingPathComponent("gcctl").path] + arguments)
    }

    @Test func getSetRemoveAndStatsAgainstACluster() async throws {
        let nodes = try await NodeProcess.cluster(2)
        let at = ["--node", nodes[0].address]
        let got = try await Self.gcctl(["get", "k"] + at)
        #expect(got.status == 0)
        #expect(got.output.hasPrefix("k@http://"), "got \(got.output)")
        #expect(try await Self.gcctl(["set", "k", "hello"] + at).status == 0)
        #expect(try await Self.gcctl(["get", "k", "--node", nodes[1].address]).output == "hello\n")
        #expect(try await Self.gcctl(["remove", "k"] + at).status == 0)
        let stats = try await Self.gcctl(["stats"] + at)
        #expect(stats.status == 0 && stats.output.contains("things.gets "), "got \(stats.output)")
        #expect(stats.output.contains("node.connections ") && stats.output.contains("node.connection_objects "))
        // Node 0 has talked to node 1 (the set and the remove reach every node): its client lists it as up.
        let peer = "peer.http://\(nodes[1].address)"
        #expect(stats.output.contains("\(peer).state up\n") && stats.output.contains("\(peer).trips 0\n"), "got \(stats.output)")
        let ping = try await Self.gcctl(["ping"] + at)
        #expect(ping.status == 0 && ping.output.hasPrefix("pong from \(nodes[0].address)"))
    }

    @Test func aStoppedNodeGivesOneLineAndExitCode2() async throws {
        // A port that refuses connections and that nobody else can take while the test runs: a socket bound but
        // not listening. (The port of a node killed here could be handed at once to a node another suite starts,
        // and gcctl would then reach that node.)
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var bound = sockaddr_in()
        bound.sin_family = sa_family_t(AF_INET)
        bound.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bindResult = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        try #require(bindResult, "could not bind a port to hold")
        let address = "127.0.0.1:\(UInt16(bigEndian: bound.sin_port))"
        let run = try await Self.gcctl(["get", "k", "--node", address, "--timeout", "2"])
        #expect(run.status == 2)
        #expect(run.errors.hasPrefix("gcctl: node \(address) is unreachable"), "got \(run.errors)")
        #expect(run.errors.split(separator: "\n").count == 1)
    }

    @Test func theSQLiteLoaderServesSampleRowsAndAMissingKeyExitsWith1() async throws {
        let database = FileManager.default.temporaryDirectory.appendingPathComponent("gc-test-\(UUID()).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) } }
        let node = try await NodeProcess.start(arguments: ["--loader", "sqlite", "--database", database])
        let found = try await Self.gcctl(["get", "product:42", "--node", node.address])
        #expect(found.status == 0)
        #expect(found.output.hasPrefix(#"{"id":"product:42","name":"Product 42","priceCents":"#), "got \(found.output)")
        #expect(found.output.contains(#""loadedBy":"http://\#(node.address)"}"#), "got \(found.output)")
        let missing = try await Self.gcctl(["get", "product:0", "--node", node.address])
        #expect(missing.status == 1)
        #expect(missing.errors.hasPrefix("gcctl: not found"), "got \(missing.errors)")
        #expect(FileManager.default.fileExists(atPath: database))
    }

    @Test func aNodeServesEveryGroupItIsGiven() async throws {
        let node = try await NodeProcess.start(arguments: ["--group", "things", "--group", "users"])
        let users = try await Self.gcctl(["get", "u1", "--node", node.address, "--group", "users"])
        #expect(users.status == 0 && users.output == "u1@http://\(node.address)\n", "got \(users.output)")
        let stats = try await Self.gcctl(["stats", "--node", node.address])
        #expect(stats.output.contains("users.local_loads 1\n") && stats.output.contains("things.local_loads 0\n"))
    }

    @Test func syntheticValuesHaveTheSizeAsked() async throws {
        let node = try await NodeProcess.start(arguments: ["--value-bytes", "100"])
        let got = try await Self.gcctl(["get", "k", "--node", node.address])
        #expect(got.output == "k@http://\(node.address)" + String(repeating: ".", count: 100 - "k@http://\(node.address)".count) + "\n")
        let short = try await NodeProcess.start(arguments: ["--value-bytes", "3"])
        #expect(try await Self.gcctl(["get", "key", "--node", short.address]).output == "key\n")
    }

    @Test func anUnknownGroupExitsWith3() async throws {
        let node = try await NodeProcess.start()
        let run = try await Self.gcctl(["get", "k", "--node", node.address, "--group", "nope"])
        #expect(run.status == 3)
        #expect(run.errors.hasPrefix("gcctl: node \(node.address) answered: noSuchGroup"), "got \(run.errors)")
        #expect(run.errors.contains("no group named nope"), "got \(run.errors)")
    }

    /// `gcctl owner --ring` names rings as `groupcache-node --ring` does, and hashes as the nodes' ring does.
    @Test func ownerTakesTheNodesRingNames() async throws {
        let ids = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]
        let keys = (0..<50).map { "key-\($0)" }
        for (name, configuration) in RingConfiguration.named {
            let run = try await Self.gcctl(["owner", "--ring", name, "--peers", ids.joined(separator: ",")] + keys)
            #expect(run.status == 0, "\(name): \(run.errors)")
            let ring = HashRing(flavor: configuration.flavor, members: ids)
            let expected = keys.map { "\($0)\t\(ring.owner(of: $0)!)\n" }.joined()
            #expect(run.output == expected, "\(name)")
        }
        let crc32 = try await Self.gcctl(["owner", "--ring", "golang", "--peers", ids.joined(separator: ",")] + keys)
        let fnv1 = try await Self.gcctl(["owner", "--ring", "v3", "--peers", ids.joined(separator: ",")] + keys)
        #expect(crc32.output != fnv1.output, "the two hashes place keys differently")
        let unknown = try await Self.gcctl(["owner", "--ring", "crc32", "--peers", ids[0], "k"])
        #expect(unknown.status != 0 && unknown.errors.contains("golang, mailgun or v3"), "\(unknown.errors)")
    }

    @Test func everyExecutablePrintsItsVersion() async throws {
        for executable in ["gcctl", "groupcache-node", "groupcache-demo"] {
            let path = NodeProcess.productsFolder.appendingPathComponent(executable).path
            let run = try await offThePool { try runToEnd([path, "--version"]) }
            #expect(run.status == 0 && run.output == "\(swiftGroupCacheVersion)\n", "\(executable): \(run)")
        }
    }
}

@Suite(.serialized) struct NodeStartupTests {
    @Test func aSecondNodeOnTheSamePortSaysSo() async throws {
        let first = try await NodeProcess.start()
        let address = first.address
        let (status, message) = try await offThePool { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = NodeProcess.productsFolder.appendingPathComponent("groupcache-node")
            process.arguments = ["--listen", address]
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            process.standardInput = Pipe()
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, message)
        }
        #expect(status == 1)
        #expect(message.contains("the address is in use"), "got \(message)")
    }

    /// Started with `&` from a shell, a node's standard input is /dev/null: it must keep serving (not take the end
    /// of /dev/null for its parent going away) until SIGTERM, which stops it cleanly.
    @Test func withoutAPipeANodeServesUntilSIGTERM() async throws {
        let (status, answered, message) = try await offThePool { () throws -> (Int32, Bool, String) in
            let process = Process()
            process.executableURL = NodeProcess.productsFolder.appendingPathComponent("groupcache-node")
            process.arguments = ["--listen", "127.0.0.1:0", "--loader", "synthetic"]
            let output = Pipe(), errors = Pipe()
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            var first = Data()
            while !first.contains(0x0A) {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                first.append(chunk)
            }
            let line = String(decoding: first, as: UTF8.self)
            let address = line.hasPrefix("listening ") ? String(line.dropFirst("listening ".count).prefix { $0 != "\n" }) : ""
            // Long after /dev/null has ended, the node still answers.
            Thread.sleep(forTimeInterval: 0.3)
            let answered = process.isRunning && (try? GroupCacheControlTests.runGcctl(["ping", "--node", address]).status) == 0
            process.terminate()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, answered, message)
        }
        #expect(answered)
        #expect(status == 0)
        #expect(message.contains("standard input is not a pipe") && message.contains("stopped"), "got \(message)")
    }
}
