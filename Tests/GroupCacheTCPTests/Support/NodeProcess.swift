import Foundation
import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A `groupcache-node` process. It exits when its standard input closes, so it never outlives the test process;
/// `deinit` also kills it, so a failing test leaves nothing behind.
final class NodeProcess: Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let process: Process
    let address: String
    private let input: FileHandle

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

    /// Starts a node and returns once it listens.
    init(arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = Self.productsFolder.appendingPathComponent("groupcache-node")
        // The synthetic loader by default: its values say which node loaded them, which the tests check.
        let loader = arguments.contains("--loader") ? [] : ["--loader", "synthetic"]
        process.arguments = ["--listen", "127.0.0.1:0"] + loader + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.output = stdout.fileHandleForReading
        let first = Self.readLine(from: output, buffer: buffer)
        guard let first, first.hasPrefix("listening ") else {
            process.terminate()
            throw Failure(description: "groupcache-node did not start: \(first ?? "no output")")
        }
        address = String(first.dropFirst("listening ".count))
    }

    private let output: FileHandle
    private let buffer = Mutex(Data())

    /// The next line the node prints, waiting at most `timeout`; `nil` if none came.
    private static func readLine(from output: FileHandle, buffer: borrowing Mutex<Data>, timeout: TimeInterval = 20) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let line = buffer.withLock { data -> String? in
                guard let newline = data.firstIndex(of: 0x0A) else { return nil }
                let line = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
                data.removeSubrange(data.startIndex...newline)
                return line
            }
            if let line { return line }
            var descriptor = pollfd(fd: output.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard Date() < deadline, poll(&descriptor, 1, 100) >= 0 else { return nil }
            if descriptor.revents != 0 {
                let chunk = output.availableData
                if chunk.isEmpty { return nil }
                buffer.withLock { $0.append(chunk) }
            }
        }
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        try? input.close()
    }

    /// Gives the node its cluster.
    /// Gives the node its cluster, and returns once the node says it uses it.
    func setPeers(_ addresses: [String]) throws {
        try input.write(contentsOf: Data("peers \(addresses.joined(separator: ","))\n".utf8))
        guard let ack = Self.readLine(from: output, buffer: buffer), ack.hasPrefix("peers ") else {
            throw Failure(description: "groupcache-node did not acknowledge its peers")
        }
    }

    /// Kills the node at once, as a crash would.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
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
    let group: [UInt8]

    init(_ node: NodeProcess, group: String = "things") throws {
        client = try TCPPeerClient(peer: Peer(id: node.address, address: node.address), options: TCPClientOptions())
        self.group = Array(group.utf8)
    }

    func get(_ key: String, timeout: Duration = .seconds(10)) async throws -> GetResponse {
        let request = GetRequest(group: group, key: Array(key.utf8))
        let reply = try await client.pool.request(deadline: .now + timeout) { id, buffer in
            Frame.encode(kind: .get, flags: .route, id: id, message: request, to: &buffer)
        }
        guard reply.kind == .getReply else { throw NodeProcess.Failure(description: "GET \(key): \(reply.kind)") }
        return try GetResponse.decode(from: reply.payload)
    }

    func remove(_ key: String) async throws {
        let request = RemoveRequest(group: group, key: Array(key.utf8))
        let reply = try await client.pool.request(deadline: .now + .seconds(10)) { id, buffer in
            Frame.encode(kind: .remove, flags: .route, id: id, message: request, to: &buffer)
        }
        guard reply.kind == .removeReply else { throw NodeProcess.Failure(description: "REMOVE \(key): \(reply.kind)") }
    }

    func stats() async throws -> StatsResponse.Group {
        let stats = try await client.stats(deadline: .now + .seconds(10))
        guard let group = stats.groups.first(where: { $0.name == group }) else {
            throw NodeProcess.Failure(description: "no stats for the group")
        }
        return group
    }
}
