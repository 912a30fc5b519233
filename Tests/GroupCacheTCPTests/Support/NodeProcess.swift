import Foundation
import GroupCache
import GroupCacheRing
@testable import GroupCacheTCP
import GroupCacheAuth
import GroupCacheWire
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `groupcache-node` process. It exits when its standard input closes, so it never outlives the test process;
/// `deinit` also kills it, so a failing test leaves nothing behind.
final class NodeProcess: Sendable {
    typealias Failure = LineProcess.Failure

    let child: LineProcess
    let address: String
    var process: Process { child.process }

    /// The built products folder: the test runner lives there beside the node executable.
    static let productsFolder: URL = {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: runner)
        // Swift Testing on Linux runs the `.xctest` binary itself; step out of a bundle folder if there is one.
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("groupcache-node").path) { return url }
        }
        return URL(fileURLWithPath: ".build/debug")
    }()

    /// Starts a node listening on `listen` (a free port by default) and returns once it listens. `launcher`
    /// runs it through another program (`ip netns exec NAME`), which must exec the node in its own process.
    init(listen: String = "127.0.0.1:0", arguments: [String] = [], launcher: [String] = []) throws {
        // The synthetic loader by default: its values say which node loaded them, which the tests check.
        let loader = arguments.contains("--loader") ? [] : ["--loader", "synthetic"]
        let node = Self.productsFolder.appendingPathComponent("groupcache-node")
        let command = launcher + [node.path, "--listen", listen] + loader + arguments
        child = try LineProcess(executable: URL(fileURLWithPath: command[0]), arguments: Array(command.dropFirst()))
        let first = child.readLine()
        guard let first, first.hasPrefix("listening ") else {
            child.kill()
            throw Failure("groupcache-node did not start: \(first ?? "no output")")
        }
        address = String(first.dropFirst("listening ".count))
    }

    /// Gives the node its cluster, and returns once the node says it uses it.
    func setPeers(_ addresses: [String]) throws {
        guard try child.ask("peers \(addresses.joined(separator: ","))").hasPrefix("peers ") else {
            throw Failure("groupcache-node did not acknowledge its peers")
        }
    }

    /// The port it listens on.
    var port: Int { Int(address.split(separator: ":").last!)! }

    /// The CPU time the process has used so far (user + system), from /proc.
    var cpuTime: Duration {
        let stat = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the
        // 12th and 13th of them, in clock ticks.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return .zero }
        return .milliseconds((user + system) * 1000 / Int(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// Kills the node at once, as a crash would.
    func kill() { child.kill() }

    /// Stops the node (SIGSTOP), as a hung process or a machine that froze: its sockets stay open, and nothing
    /// answers on them. Returns once every thread of it is stopped: the signal is delivered asynchronously, and a
    /// thread still running could answer one more request.
    func suspend() throws {
        let pid = process.processIdentifier
        _ = Glibc.kill(pid, SIGSTOP)
        for _ in 0..<2_000 {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            let stopped = threads.allSatisfy { thread in
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8)) ?? ""
                // The state is the first field after the command name, which is in parentheses.
                return stat.split(separator: ")").last?.split(separator: " ").first == "T"
            }
            if !threads.isEmpty && stopped { return }
            usleep(1_000)
        }
        throw Failure("node \(address) did not stop within 2 s of SIGSTOP")
    }

    /// Lets a suspended node run again (SIGCONT).
    func resume() { _ = Glibc.kill(process.processIdentifier, SIGCONT) }

    /// The key `prefix-N` with the smallest N that the golang ring of `nodes` gives to this node.
    func ownedKey(among nodes: [NodeProcess], prefix: String = "key") -> String {
        let ring = HashRing(flavor: .crc32, members: nodes.map { "http://\($0.address)" })
        return (0...).lazy.map { "\(prefix)-\($0)" }.first { ring.owner(of: $0) == "http://\(self.address)" }!
    }

    /// Starts `count` nodes and tells each about all.
    static func cluster(_ count: Int, arguments: [String] = []) async throws -> [NodeProcess] {
        try await offThePool {
            let nodes = try (0..<count).map { _ in try NodeProcess(arguments: arguments) }
            for node in nodes { try node.setPeers(nodes.map(\.address)) }
            return nodes
        }
    }

    /// Starts one node, waiting for it on a thread of its own.
    static func start(arguments: [String] = []) async throws -> NodeProcess {
        try await offThePool { try NodeProcess(arguments: arguments) }
    }
}

/// A client of one node that sends requests with ROUTE, as gcctl and demos do: the node then runs the public
/// API (get, remove) rather than serving only itself.
struct NodeClient {
    let client: TCPPeerClient
    let group: String

    init(_ node: NodeProcess, group: String = "things", secrets: ClusterSecrets? = nil) throws {
        client = try TCPPeerClient(
            peer: Peer(id: node.address, address: node.address), options: TCPClientOptions(secrets: secrets))
        self.group = group
    }

    func get(_ key: String, timeout: Duration = .seconds(10)) async throws -> GetResponse {
        let value = try await client.get(group: group, key: CacheKey(key), flags: .route, deadline: .now + timeout)
        return GetResponse(value: value.bytes, expire: value.expiryNanoseconds)
    }

    func remove(_ key: String) async throws {
        try await client.remove(group: group, key: CacheKey(key), flags: .route, deadline: .now + .seconds(10))
    }

    /// The node's server counters.
    func nodeStats() async throws -> StatsResponse.Node {
        guard let node = try await client.stats(deadline: .now + .seconds(10)).node else {
            throw NodeProcess.Failure("the node sent no server counters")
        }
        return node
    }

    /// What the node's client sees of the peer `id`; `nil` if the node does not list it.
    func peerStats(_ id: String) async throws -> StatsResponse.Peer? {
        try await client.stats(deadline: .now + .seconds(10)).peers.first { $0.id == id }
    }

    func stats() async throws -> StatsResponse.Group {
        let stats = try await client.stats(deadline: .now + .seconds(10))
        guard let group = stats.groups.first(where: { $0.name == Array(self.group.utf8) }) else {
            throw NodeProcess.Failure("no stats for the group")
        }
        return group
    }
}
