import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Hosts in network namespaces this test makes, joined pairwise by veth links: host i has the one address
/// 10.200.0.(i+1), on its loopback, and a route to each other host over their link. Nothing is sent to any other
/// address. `cut` takes a host's links down, as a partition would; `heal` brings them back. The namespaces are
/// removed by `remove()` (and `deinit`) on every path, and leftovers of a test process that died are removed
/// when the next one starts.
final class NetworkNamespaces: Sendable {
    typealias Failure = NodeProcess.Failure

    static let ip = "/usr/sbin/ip"
    private static let prefix = "gcns-"

    /// Whether this process may make namespaces (root, with `ip`).
    static var isAvailable: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: ip) }

    /// Whether tests that need namespaces must fail, rather than skip, without them: .ci/run sets it.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["GROUPCACHE_REQUIRE_NETNS"] == "1" }

    let names: [String]

    init(hosts: Int) throws {
        Self.removeLeftovers()
        names = (0..<hosts).map { "\(Self.prefix)\(getpid())-\($0)" }
        do {
            for name in names {
                try Self.run(["netns", "add", name])
                try Self.run(["-n", name, "link", "set", "lo", "up"])
            }
            for (host, name) in names.enumerated() {
                try Self.run(["-n", name, "addr", "add", "\(address(of: host))/32", "dev", "lo"])
            }
            for i in 0..<hosts {
                for j in (i + 1)..<hosts {
                    // In host i the link to host j is called v<j>, and in host j the link to i is v<i>.
                    try Self.run(["link", "add", "v\(j)", "netns", names[i], "type", "veth", "peer", "name", "v\(i)", "netns", names[j]])
                }
            }
            for host in 0..<hosts { try heal(host) }
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Host `host`'s address.
    func address(of host: Int) -> String { "10.200.0.\(host + 1)" }

    /// The command prefix that runs a program in host `host`.
    func launcher(_ host: Int) -> [String] { [Self.ip, "netns", "exec", names[host]] }

    /// Takes every link of `host` down: nothing reaches it, nothing leaves it, and no RST tells anyone.
    func cut(_ host: Int) throws {
        for other in names.indices where other != host {
            try Self.run(["-n", names[host], "link", "set", "v\(other)", "down"])
        }
    }

    /// Brings `host`'s links up and restores the routes between it and every other host (a link taken down
    /// loses its routes on that side).
    func heal(_ host: Int) throws {
        for other in names.indices where other != host {
            for (from, to) in [(host, other), (other, host)] {
                try Self.run(["-n", names[from], "link", "set", "v\(to)", "up"])
                try Self.run([
                    "-n", names[from], "route", "replace", "\(address(of: to))/32", "dev", "v\(to)", "src", address(of: from),
                ])
            }
        }
    }

    /// Removes every namespace made here (their links go with them).
    func remove() {
        for name in names { try? Self.run(["netns", "del", name]) }
    }

    /// Removes namespaces of earlier test processes that are no longer running.
    private static func removeLeftovers() {
        guard let listing = try? output(["netns", "list"]) else { return }
        for line in listing.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count).split(separator: "-").first ?? ""),
                kill(pid, 0) != 0
            else { continue }
            try? run(["netns", "del", name])
        }
    }

    private static func run(_ arguments: [String]) throws {
        _ = try output(arguments)
    }

    @discardableResult
    private static func output(_ arguments: [String]) throws -> String {
        let run = try runToEnd([ip] + arguments)
        guard run.status == 0 else { throw Failure("ip \(arguments.joined(separator: " ")): \(run.errors)") }
        return run.output
    }
}
