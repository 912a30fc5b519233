import Foundation
import TestSupport

/// A `tools/go-peer` process: real golang/groupcache groups behind our frame protocol, with golang's crc32 ring
/// and `http://host:port` IDs. The tests talk to it in lines (see tools/go-peer/main.go).
final class GoPeer: Sendable {
    static let tool = GoTool("go-peer")
    static var isRequired: Bool { GoTool.isRequired }
    static var isAvailable: Bool { GoTool.isAvailable }

    let child: LineProcess
    let address: String
    var id: String { "http://" + address }

    /// Starts a Go peer and returns once it listens. Blocks: call through `offThePool`.
    init(arguments: [String] = []) throws {
        child = try LineProcess(
            executable: try Self.tool.executable("go-peer"),
            arguments: ["-listen", "127.0.0.1:0"] + arguments)
        guard let first = child.readLine(), first.hasPrefix("listening ") else {
            child.kill()
            throw LineProcess.Failure("go-peer did not start")
        }
        address = String(first.dropFirst("listening ".count))
    }

    /// Sends a command and returns its answer without the answer's first word, which must be `expected`.
    func ask(_ command: String, expecting expected: String) async throws -> String {
        let answer = try await offThePool { [child] in try child.ask(command) }
        guard answer.hasPrefix(expected + " ") else {
            throw LineProcess.Failure("go-peer answered \(command.prefix(60)) with \(answer.prefix(300))")
        }
        return String(answer.dropFirst(expected.count + 1))
    }

    func setPeers(_ addresses: [String]) async throws {
        _ = try await ask("peers \(addresses.joined(separator: ","))", expecting: "peers")
    }

    /// golang's Group.Get at this peer.
    func get(_ key: String, group: String = "things") async throws -> [UInt8] {
        try Self.bytes(hex: try await ask("get \(group) \(key)", expecting: "value"))
    }

    /// golang's Group.Get of every key at once, in goroutines of their own.
    func getAll(_ keys: [String], group: String = "things") async throws -> [[UInt8]] {
        try await ask("getall \(group) \(keys.joined(separator: ","))", expecting: "values")
            .split(separator: ",", omittingEmptySubsequences: false).map { try Self.bytes(hex: $0) }
    }

    /// golang's Group.Get, decoded in Go as a testdata User and described in the form of `describe` in main.go.
    func user(_ key: String, group: String = "things") async throws -> String {
        try await ask("user \(group) \(key)", expecting: "user")
    }

    /// A GET frame sent by the Go peer's client to the key's owner: the answer's value and expire, or its error.
    func fetch(_ key: String, group: String = "things") async throws -> String {
        try await offThePool { [child] in try child.ask("fetch \(group) \(key)") }
    }

    /// The owner of each key on this peer's ring.
    func owners(of keys: [String]) async throws -> [String] {
        try await ask("owners \(keys.joined(separator: ","))", expecting: "owners").split(separator: ",").map(String.init)
    }

    /// How many times this peer's loader ran.
    func loads() async throws -> Int {
        Int(try await ask("loads", expecting: "loads")) ?? -1
    }

    /// A counter of golang's Stats for `group`, by its Go name (peerErrors, localLoads, ...).
    func stat(_ name: String, group: String = "things") async throws -> Int {
        let stats = try await ask("stats \(group)", expecting: "stats")
        guard let pair = stats.split(separator: " ").first(where: { $0.hasPrefix(name + "=") }) else {
            throw LineProcess.Failure("go-peer has no counter \(name)")
        }
        return Int(pair.dropFirst(name.count + 1)) ?? -1
    }

    /// The bytes that lowercase hex spells (the Go peer's output): throws rather than trusts it.
    static func bytes(hex: some StringProtocol) throws -> [UInt8] {
        let digits = hex.utf8.map { Int(UInt8(ascii: "0")...UInt8(ascii: "9") ~= $0 ? $0 - 48 : $0 &- 87) }
        guard digits.count.isMultiple(of: 2), digits.allSatisfy({ (0..<16).contains($0) }) else {
            throw LineProcess.Failure("go-peer printed something that is not hex: \(hex.prefix(80))")
        }
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(digits[$0] << 4 | digits[$0 + 1]) }
    }

    /// Kills the peer at once, as a crash would.
    func kill() async throws { try await offThePool { [child] in child.kill() } }
}
