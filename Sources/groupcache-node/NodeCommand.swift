import ArgumentParser
import Dispatch
import Foundation
import GroupCache
import GroupCacheTCP
import GroupCacheAuth

/// `groupcache-node`: one cache node in its own process, serving its groups over TCP.
///
/// Its loader reads a SQLite database of sample products that the node creates and fills when absent (keys
/// `product:1` to `product:10000`; a value is the row as JSON plus the ID of the node that loaded it), or, with
/// `--loader synthetic`, makes the value `<key>@<node ID>` for any key. Both wait `--load-delay-ms` first, to
/// stand in for a slow backend, and both log every load. Membership comes from `--peers` and
/// can change at run time through standard input (`peers ID1,ID2,...`) when it is a pipe. The node exits when that
/// pipe closes (so it never outlives the process that started it) or on SIGTERM/SIGINT, after a graceful shutdown.
@main
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groupcache-node",
        abstract: "Run one swift-groupcache node that serves its groups over TCP.",
        discussion: """
            Prints "listening <host:port>" on standard output once it accepts connections. When standard input \
            is a pipe, reads commands from it, one per line: "peers <address>,<address>,..." replaces the \
            cluster's members (host:port each; this node is added if missing) and answers "peers <ID>,<ID>,..." \
            once they are in use; "stats" prints this node's counters; and exits when it closes, so that the \
            node never outlives the process that started it. Exits on SIGTERM or SIGINT in any case.
            """,
        version: swiftGroupCacheVersion
    )

    @Option(help: "The address to listen on, host:port (port 0 picks a free one).")
    var listen = "127.0.0.1:0"

    @Option(help: "This node's address as its peers dial it; defaults to the address it listens on.")
    var advertise: String?

    @Option(help: "The cluster's members, host:port, comma-separated; this node is added if missing.")
    var peers = ""

    @Option(help: "The ring: golang (crc32, http:// IDs), mailgun (fnv1, http:// IDs) or v3 (fnv1, host:port IDs).")
    var ring = "golang"

    @Option(name: .customLong("group"), help: "A group to serve; repeat for several. Every group loads through the same loader.")
    var groups: [String] = ["things"]

    @Option(help: "Each group's cache budget in bytes.")
    var cacheBytes = 64 << 20

    @Option(help: "The loader: sqlite (sample products in --database) or synthetic (<key>@<node ID> for any key).")
    var loader = "sqlite"

    @Option(help: "The SQLite file; created and filled with 10,000 sample products if absent. Default: one per port in the temporary folder.")
    var database: String?

    @Option(help: "How long each load waits before it reads, in milliseconds: a stand-in for a slow backend.")
    var loadDelayMs = 0

    @Option(help: "With --loader synthetic: pad (or cut) every value to exactly this many bytes; 0 leaves it as it is.")
    var valueBytes = 0

    @Option(help: "Loaded values expire after this many seconds; 0 means never.")
    var ttlSeconds = 0.0

    @Option(help: "Connections served at once; one more is refused with UNAVAILABLE.")
    var maxConnections = TCPServerOptions().maxConnections

    @Option(help: "Reply bytes one connection may have unwritten before the node stops reading it.")
    var maxOutputBytesPerConnection = TCPServerOptions().maxOutputBytesPerConnection

    @Option(help: "Bytes all connections together may hold in partial frames (the input budget).")
    var maxBufferedInputBytes = TCPServerOptions().maxBufferedInputBytes

    @Option(help: "Seconds a connection's unwritten replies may stand still before it is closed.")
    var writeTimeoutSeconds = 30.0

    @Option(help: ArgumentHelp(
        "The cluster's secrets, one per line (at least 32 bytes each): peers must prove they hold one; this node connects with the first.",
        valueName: "path"))
    var secretFile: String?

    @Flag(help: "Without --secret-file, listen beyond loopback anyway: anyone who reaches the port can read and change the caches.")
    var insecure = false

    func run() async throws {
        guard let configuration = RingConfiguration(name: ring) else {
            throw ValidationError("--ring must be golang, mailgun or v3")
        }
        let (host, port) = try Self.split(listen)
        var secrets: ClusterSecrets?
        if let secretFile {
            do {
                secrets = try ClusterSecrets(contentsOfFile: secretFile)
            } catch {
                log("\(error)")
                throw ExitCode.failure
            }
        }
        let picker = DeferredPeerPicker()
        let registry = GroupRegistry(peers: picker)
        var serverOptions = TCPServerOptions()
        serverOptions.maxConnections = maxConnections
        serverOptions.maxOutputBytesPerConnection = maxOutputBytesPerConnection
        serverOptions.maxBufferedInputBytes = maxBufferedInputBytes
        serverOptions.writeTimeout = .milliseconds(Int(writeTimeoutSeconds * 1000))
        serverOptions.secrets = secrets
        serverOptions.allowsUnauthenticatedNonLoopback = insecure
        let server = TCPServer(registry: registry, options: serverOptions)
        let boundPort: Int
        do {
            boundPort = try server.start(host: host, port: port)
        } catch let error as SocketError where error.errno == EADDRINUSE {
            log("cannot listen on \(listen): the address is in use (is another node running on this port?)")
            throw ExitCode.failure
        } catch {
            log("cannot listen on \(listen): \(error)")
            throw ExitCode.failure
        }
        let address = advertise ?? "\(host):\(boundPort)"
        let me = Peer(address: address, idFormat: configuration.idFormat)
        var clientOptions = TCPClientOptions()
        clientOptions.secrets = secrets
        let peerRing = TCPTransport(options: clientOptions).makePeerRing(local: me, configuration: configuration)
        picker.setPicker(peerRing)
        peerRing.setPeers(Self.members(peers, format: configuration.idFormat))

        let delay = Duration.milliseconds(loadDelayMs)
        let ttl = ttlSeconds
        let size = valueBytes
        let products: ProductDatabase?
        switch loader {
        case "synthetic":
            products = nil
        case "sqlite":
            let path = database ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("groupcache-node-\(boundPort).sqlite").path
            do {
                products = try ProductDatabase(path: path)
            } catch {
                log("cannot open the database: \(error)")
                throw ExitCode.failure
            }
            log("loader: products in \(path)")
        default:
            throw ValidationError("--loader must be sqlite or synthetic")
        }
        let load: Loader = { key, context in
            let group = context.group.name
            let started = ContinuousClock.now
            if delay > .zero { try await Task.sleep(for: delay) }
            let expiry = ttl > 0 ? Date().addingTimeInterval(ttl) : nil
            guard let products else {
                log("load \(group)/\(key): synthetic")
                return CacheValue(Self.synthetic("\(key)@\(me.id)", bytes: size), expiresAt: expiry)
            }
            guard let row = try products.product(id: key.description) else {
                log("load \(group)/\(key): not found (\(milliseconds(since: started)))")
                throw GroupCacheError.notFound(key)
            }
            log("load \(group)/\(key): found (\(milliseconds(since: started)))")
            return CacheValue(String(row.dropLast()) + #","loadedBy":"\#(me.id)"}"#, expiresAt: expiry)
        }
        for group in groups {
            do {
                try registry.makeGroup(name: group, cacheBytes: cacheBytes, loader: load)
            } catch {
                throw ValidationError("--group \(group) is given twice")
            }
        }

        emit("listening \(address)")
        log(
            "node \(me.id) serves \(groups.joined(separator: ", ")) on \(host):\(boundPort), ring \(ring), "
                + (secrets.map { "authenticated with \($0)" } ?? "unauthenticated"))

        let stop = AsyncStream<String>.makeStream()
        let signals = [SIGTERM, SIGINT].map { signal in
            Foundation.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
            source.setEventHandler { stop.continuation.yield("signal \(signal)") }
            source.activate()
            return source
        }
        let input = Thread {
            while let line = readLine() {
                let words = line.split(separator: " ", maxSplits: 1).map(String.init)
                switch words.first {
                case "peers":
                    let members = Self.members(words.count > 1 ? words[1] : "", format: configuration.idFormat)
                    peerRing.setPeers(members)
                    emit("peers \(peerRing.peers.map(\.id).joined(separator: ","))")
                case "stats":
                    for group in registry.allGroups { emit("stats \(group.name) \(group.stats)") }
                default:
                    log("unknown command: \(line)")
                }
            }
            stop.continuation.yield("end of standard input")
        }
        // A parent that talks to the node gives it a pipe; a shell's `&` gives it /dev/null (which would end
        // at once) or the terminal (which would stop the node on its first read): read only from a pipe.
        if Self.standardInputIsPipe {
            input.start()
        } else {
            log("standard input is not a pipe: commands off; stop the node with SIGTERM or Ctrl-C")
        }

        for await reason in stop.stream {
            log("stopping: \(reason)")
            break
        }
        let progress = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                log("stopping: waiting for \(server.connectionCount) connections: \(server.connectionStatus.joined(separator: "; "))")
            }
        }
        await server.shutdown()
        progress.cancel()
        signals.forEach { $0.cancel() }
        log("stopped")
    }

    /// `text` padded with dots or cut to `bytes` bytes; `text` itself when `bytes` is 0.
    static func synthetic(_ text: String, bytes: Int) -> [UInt8] {
        let value = Array(text.utf8)
        guard bytes > 0 else { return value }
        return Array(value.prefix(bytes)) + [UInt8](repeating: UInt8(ascii: "."), count: max(0, bytes - value.count))
    }

    /// Whether standard input is a pipe or a FIFO.
    static var standardInputIsPipe: Bool {
        var status = stat()
        return fstat(STDIN_FILENO, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO
    }

    static func split(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ValidationError("\(address) is not host:port")
        }
        return (String(address[..<colon]), port)
    }

    static func members(_ list: String, format: PeerIDFormat) -> [Peer] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { Peer(address: $0, idFormat: format) }
    }
}

/// Writes a line to standard output at once (no buffering: a parent process waits for it).
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The time since `start`, as "1.25 ms".
func milliseconds(since start: ContinuousClock.Instant) -> String {
    let elapsed = ContinuousClock.now - start
    let value = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    return String(format: "%.2f ms", value)
}

/// Writes a line to standard error.
func log(_ message: String) {
    FileHandle.standardError.write(Data("groupcache-node: \(message)\n".utf8))
}
