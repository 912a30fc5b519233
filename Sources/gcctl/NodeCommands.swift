import ArgumentParser
import Foundation
import GroupCache
import GroupCacheTCP
import GroupCacheAuth

/// Options every command that talks to a node takes.
struct NodeOptions: ParsableArguments {
    @Option(help: "The node to ask, host:port.")
    var node = "127.0.0.1:8080"

    @Option(help: "The group.")
    var group = "things"

    @Option(help: "How long to wait for the node, in seconds.")
    var timeout = 10.0

    @Option(help: ArgumentHelp("The cluster's secret file, as the node has it: gcctl connects with its first secret.", valueName: "path"))
    var secretFile: String?

    var duration: Duration { .milliseconds(Int(timeout * 1000)) }

    func client() throws -> TCPNodeClient {
        var options = TCPClientOptions()
        if let secretFile {
            do {
                options.secrets = try ClusterSecrets(contentsOfFile: secretFile)
            } catch {
                throw ValidationError("--secret-file: \(error)")
            }
        }
        do {
            return try TCPNodeClient(address: node, options: options)
        } catch {
            throw ValidationError("--node \(node) is not host:port")
        }
    }
}

/// How gcctl ends a failed request: one line on standard error, and an exit code a script can test.
///
/// Exit codes: 1 the key does not exist; 2 the node asked is unreachable (down, refused, or it did not answer
/// in time); 3 the node answered with a failure of its own (its loader failed, no such group, a limit); 4 the
/// node answered, but a peer failed: the key's owner for a get, a peer a set or remove could not reach; 5
/// authentication with the node failed (no secret, or the wrong one).
enum Failure {
    static let exitCodes = "Exit code 1: no such key; 2: the node asked is unreachable; 3: the node answered with "
        + "a failure of its own; 4: the node answered, but the owner or another peer failed; 5: authentication "
        + "with the node failed (no --secret-file, or the wrong secret)."

    /// Prints the message for `error` from `node`, naming a peer that failed as `role` ("owner" for a get),
    /// and returns the exit code.
    static func exit(_ error: any Error, node: String, role: String = "peer") -> ExitCode {
        let message: String
        let code: Int32
        switch error {
        case let error as GroupCacheError where error.code == .notFound:
            (message, code) = ("not found: \(error.message)", 1)
        case let error as GroupCacheError where error.code == .unauthenticated && error.peerID == node:
            (message, code) = (
                "authentication with node \(node) failed: \(error.message) (give --secret-file with the cluster's secret)", 5)
        case let error as GroupCacheError where error.peerID == node:
            (message, code) = ("node \(node) is unreachable: \(error.message)", 2)
        case let error as GroupCacheError where error.peerID != nil:
            (message, code) = ("node \(node) answered, but the \(role) \(error.peerID!) failed: \(error.message)", 4)
        case let error as GroupCacheError:
            (message, code) = ("node \(node) answered: \(error.code): \(error.message)", 3)
        default:
            (message, code) = ("\(error)", 3)
        }
        FileHandle.standardError.write(Data("gcctl: \(message)\n".utf8))
        return ExitCode(code)
    }
}

/// `gcctl get`: a key's value, as the node's `group.get` returns it.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print the value of a key (loading it through the cluster if needed).",
        discussion: "Prints the value, then its expiry on a second line if it has one. " + Failure.exitCodes)

    @OptionGroup var options: NodeOptions
    @Argument(help: "The key.") var key: String

    func run() async throws {
        do {
            let value = try await options.client().get(CacheKey(key), group: options.group, timeout: options.duration)
            print(value.string)
            if let expiry = value.expiresAt { print("expires \(expiry.formatted(.iso8601))") }
        } catch {
            throw Failure.exit(error, node: options.node, role: "owner")
        }
    }
}

/// `gcctl set`: store a value on every node.
struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Store a value under a key on every node, its owner first.",
        discussion: Failure.exitCodes)

    @OptionGroup var options: NodeOptions
    @Option(help: "Seconds until the value expires; none if absent.") var ttl: Double?
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value, as text.") var value: String

    func run() async throws {
        let expiry = ttl.map { Date().addingTimeInterval($0) }
        do {
            try await options.client().set(
                CacheKey(key), to: CacheValue(value, expiresAt: expiry), group: options.group, timeout: options.duration)
        } catch {
            throw Failure.exit(error, node: options.node)
        }
    }
}

/// `gcctl remove`: remove a key from every node.
struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a key from every node, its owner first.",
        discussion: Failure.exitCodes)

    @OptionGroup var options: NodeOptions
    @Argument(help: "The key.") var key: String

    func run() async throws {
        do {
            try await options.client().remove(CacheKey(key), group: options.group, timeout: options.duration)
        } catch {
            throw Failure.exit(error, node: options.node)
        }
    }
}

/// `gcctl stats`: a node's counters.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: """
            Print a node's counters, one `name value` per line: each group's, then its server's (`node.`), then \
            what it sees of each peer (`peer.<id>.`: state up or down, connections, failures, trips, probes, recoveries).
            """)

    @OptionGroup var options: NodeOptions

    func run() async throws {
        do {
            let (groups, server, peers) = try await options.client().report(timeout: options.duration)
            for (name, stats) in groups.sorted(by: { $0.key < $1.key }) {
                let rows: [(String, Int)] = [
                    ("gets", stats.gets), ("cache_hits", stats.cacheHits), ("peer_loads", stats.peerLoads),
                    ("peer_errors", stats.peerErrors), ("loads", stats.loads), ("loads_deduped", stats.loadsDeduped),
                    ("local_loads", stats.localLoads), ("local_load_errs", stats.localLoadErrs),
                    ("server_requests", stats.serverRequests), ("removes_pending", stats.removesPending),
                    ("removes_retried", stats.removesRetried), ("removes_dropped", stats.removesDropped),
                    ("main_bytes", stats.mainCache.bytes), ("main_items", stats.mainCache.items),
                    ("main_evictions", stats.mainCache.evictions), ("hot_bytes", stats.hotCache.bytes),
                    ("hot_items", stats.hotCache.items), ("hot_evictions", stats.hotCache.evictions),
                ]
                for (counter, value) in rows { print("\(name).\(counter) \(value)") }
            }
            for (counter, value) in server ?? [] { print("node.\(counter) \(value)") }
            for peer in peers {
                print("peer.\(peer.id).state \(peer.isDown ? "down" : "up")")
                for (counter, value) in peer.counters { print("peer.\(peer.id).\(counter) \(value)") }
            }
        } catch {
            throw Failure.exit(error, node: options.node)
        }
    }
}

/// `gcctl ping`: whether a node answers, and how fast.
struct PingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping", abstract: "Ask a node for a PONG and print the round trip.")

    @OptionGroup var options: NodeOptions

    func run() async throws {
        do {
            let elapsed = try await options.client().ping(timeout: options.duration)
            let microseconds = Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6
            print("pong from \(options.node) in \(String(format: "%.0f", microseconds)) us")
        } catch {
            throw Failure.exit(error, node: options.node)
        }
    }
}
