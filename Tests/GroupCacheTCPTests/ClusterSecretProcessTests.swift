import Foundation
import GroupCache
import GroupCacheTCP
import GroupCacheAuth
import GroupCacheWire
import TestSupport
import Testing

/// `groupcache-node --secret-file` and `gcctl --secret-file` as processes: protected mode, the exit code of a
/// failed authentication, and a secret rotated across a running cluster.
@Suite(.serialized) struct ClusterSecretProcessTests {
    static let old = "the old cluster secret: 0123456789abcdef0123"
    static let new = "the new cluster secret: fedcba9876543210fedc"

    static func secretFile(_ secrets: [String]) throws -> String { try temporarySecretFile(secrets) }

    /// Runs groupcache-node with `arguments`, killed after 10 s if it does not exit by itself.
    static func runNode(_ arguments: [String]) async throws -> ProcessOutput {
        let node = NodeProcess.productsFolder.appendingPathComponent("groupcache-node").path
        return try await offThePool { try runToEnd(["/usr/bin/timeout", "10", node, "--loader", "synthetic"] + arguments) }
    }

    @Test func aNodeRefusesToListenBeyondLoopbackWithoutASecret() async throws {
        let refused = try await Self.runNode(["--listen", "0.0.0.0:0"])
        #expect(refused.status == 1, "exit status \(refused.status)")
        #expect(refused.errors.contains("--secret-file") && refused.errors.contains("--insecure"), "\(refused.errors)")
        #expect(!refused.output.contains("listening"))

        // With --insecure, or with a secret, it listens.
        for arguments in [["--insecure"], ["--secret-file", try Self.secretFile([Self.old])]] {
            let node = try await offThePool { try NodeProcess(listen: "0.0.0.0:0", arguments: arguments) }
            node.kill()
        }
    }

    @Test func aSecretFileWithAShortSecretIsRefusedWithoutPrintingIt() async throws {
        let run = try await Self.runNode(["--secret-file", try Self.secretFile([Self.old, "too-short-secret"])])
        #expect(run.status == 1)
        #expect(run.errors.contains("line 2") && run.errors.contains("at least 32 bytes"), "\(run.errors)")
        #expect(!run.errors.contains("too-short-secret") && !run.errors.contains(Self.old))
    }

    @Test func gcctlWithoutTheSecretExitsWithItsOwnCode() async throws {
        let file = try Self.secretFile([Self.old])
        let node = try await NodeProcess.start(arguments: ["--secret-file", file])
        let at = ["--node", node.address]
        let served = try await GroupCacheControlTests.gcctl(["get", "k", "--secret-file", file] + at)
        #expect(served.status == 0 && served.output.hasPrefix("k@"), "\(served)")
        for extra in [[], ["--secret-file", try Self.secretFile([Self.new])]] {
            for command in [["get", "k"], ["ping"], ["stats"], ["set", "k", "evil"]] {
                let refused = try await GroupCacheControlTests.gcctl(command + extra + at)
                #expect(refused.status == 5, "\(command) \(extra): \(refused)")
                #expect(refused.errors.contains("authentication with node \(node.address) failed"), "\(refused.errors)")
            }
        }
        let after = try await GroupCacheControlTests.gcctl(["get", "k", "--secret-file", file] + at)
        #expect(after.output.hasPrefix("k@"), "the refused set changed nothing: \(after.output)")
        let stats = try await GroupCacheControlTests.gcctl(["stats", "--secret-file", file] + at)
        #expect(stats.output.contains("node.closed_unauthenticated 8\n"), "\(stats.output)")
    }

    /// [old] → [old, new] → [new, old] → [new], one node at a time, while the cluster serves: after every
    /// restart each node fetches every other node's keys from their owner, and no authentication fails.
    @Test func aClusterRotatesItsSecretWithTwoRollingRestarts() async throws {
        var nodes = try await NodeProcess.cluster(3, arguments: ["--secret-file", try Self.secretFile([Self.old])])
        let addresses = nodes.map(\.address)
        let phases = [[Self.old, Self.new], [Self.new, Self.old], [Self.new]]
        for (phase, secrets) in phases.enumerated() {
            let file = try Self.secretFile(secrets)
            for index in nodes.indices {
                nodes[index].kill()
                nodes[index] = try await offThePool {
                    let node = try NodeProcess(listen: addresses[index], arguments: ["--secret-file", file])
                    try node.setPeers(addresses)
                    return node
                }
                try await Self.expectOwnersServe(nodes, secrets: try ClusterSecrets(parsing: secrets.joined(separator: "\n")), tag: "\(phase)-\(index)")
            }
        }
        let secrets = try ClusterSecrets(parsing: Self.new)
        for node in nodes {
            let client = try NodeClient(node, secrets: secrets)
            #expect(try await client.nodeStats().closedUnauthenticated == 0, "node \(node.address) refused a peer")
            for other in nodes where other !== node {
                #expect(try await client.peerStats("http://\(other.address)")?.authFailures ?? 0 == 0)
            }
        }
    }

    /// Every node answers a get of a fresh key owned by each other node with the owner's value. A restarted
    /// node's peers may take a probe (1 s) to bring it back, so each key is retried with fresh keys for up to
    /// 10 s; a key one node loaded for itself meanwhile is never asked again.
    static func expectOwnersServe(_ nodes: [NodeProcess], secrets: ClusterSecrets, tag: String) async throws {
        for asker in nodes {
            let client = try NodeClient(asker, secrets: secrets)
            for owner in nodes where owner !== asker {
                let deadline = ContinuousClock.now + .seconds(10)
                var attempt = 0
                var served = false
                while !served && ContinuousClock.now < deadline {
                    let key = owner.ownedKey(among: nodes, prefix: "rotation-\(tag)-\(attempt)")
                    let value = String(decoding: try await client.get(key).value, as: UTF8.self)
                    served = value == "\(key)@http://\(owner.address)"
                    attempt += 1
                    if !served { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(served, "after restart \(tag), \(asker.address) did not get its keys from \(owner.address)")
            }
        }
    }
}
