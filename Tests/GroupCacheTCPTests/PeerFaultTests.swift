import Foundation
import GroupCacheWire
import TestSupport
import Testing

/// Peers that hang or load slowly, as real `groupcache-node` processes with default options.
@Suite(.serialized) struct PeerFaultTests {
    /// A hung owner (SIGSTOP): its sockets stay open and nothing answers. A get of its key at another node
    /// returns that node's own load well within the caller's 5 s, and the owner is marked down.
    @Test func aHungOwnerCostsAGetLessThanItsDeadline() async throws {
        let nodes = try await NodeProcess.cluster(3)
        let asked = try NodeClient(nodes[0])
        let key = nodes[2].ownedKey(among: nodes)
        // A first get opens node 0's connection to the owner, so the hang catches a connection in use.
        _ = try await asked.get(nodes[2].ownedKey(among: nodes, prefix: "warm"))
        nodes[2].suspend()
        defer { nodes[2].resume() }
        let started = ContinuousClock.now
        let value = String(decoding: try await asked.get(key, timeout: .seconds(10)).value, as: UTF8.self)
        let took = ContinuousClock.now - started
        #expect(value == "\(key)@http://\(nodes[0].address)")
        #expect(took < .milliseconds(2_500), "the get took \(took)")
        // The hang marked the owner down: the next get of its keys loads locally without waiting.
        let next = nodes[2].ownedKey(among: nodes, prefix: "next")
        let again = ContinuousClock.now
        #expect(String(decoding: try await asked.get(next).value, as: UTF8.self) == "\(next)@http://\(nodes[0].address)")
        #expect(ContinuousClock.now - again < .milliseconds(500), "a get of a down owner's key waited")
        #expect(try await asked.stats().peerErrors == 2)
        let owner = "http://\(nodes[2].address)"
        let down = try #require(try await asked.peerStats(owner))
        #expect(down.isDown && down.trips == 1 && down.hungConnections == 1 && down.connections == 0)

        // Running again, the owner answers a probe within a second or so, and serves its keys again.
        nodes[2].resume()
        var peer = down
        for _ in 0..<100 where peer.isDown {
            try await Task.sleep(for: .milliseconds(50))
            peer = try #require(try await asked.peerStats(owner))
        }
        #expect(!peer.isDown && peer.recoveries == 1 && peer.probes >= 1, "\(peer)")
        let back = nodes[2].ownedKey(among: nodes, prefix: "back")
        #expect(String(decoding: try await asked.get(back).value, as: UTF8.self) == "\(back)@\(owner)")
    }

    /// A healthy owner whose loader takes 2 s: the asking node waits for it (the owner answers its PINGs), and
    /// the key is loaded once in the whole cluster.
    @Test func aSlowOwnerIsWaitedForAndLoadsOnce() async throws {
        let nodes = try await NodeProcess.cluster(3, arguments: ["--load-delay-ms", "2000"])
        let clients = try nodes.map { try NodeClient($0) }
        let key = nodes[1].ownedKey(among: nodes)
        let value = String(decoding: try await clients[0].get(key, timeout: .seconds(10)).value, as: UTF8.self)
        #expect(value == "\(key)@http://\(nodes[1].address)")
        let stats = try await clients.asyncMap { try await $0.stats() }
        #expect(stats.map(\.localLoads) == [0, 1, 0])
        #expect(stats.map(\.peerErrors) == [0, 0, 0])
    }

    /// gcctl names each node as what it is: the node it asked answered, but the key's owner failed (here its
    /// loader outlasts the asked node's 5 s): exit code 4, not "unreachable".
    @Test func gcctlTellsAFailedOwnerFromAnUnreachableNode() async throws {
        let asked = try await NodeProcess.start()
        let owner = try await NodeProcess.start(arguments: ["--load-delay-ms", "6000"])
        for node in [asked, owner] { try node.setPeers([asked.address, owner.address]) }
        let key = owner.ownedKey(among: [asked, owner])
        let run = try await GroupCacheControlTests.gcctl(["get", key, "--node", asked.address])
        #expect(run.status == 4, "got \(run.status): \(run.errors)")
        #expect(run.errors.hasPrefix("gcctl: node \(asked.address) answered, but the owner http://\(owner.address) failed"), "got \(run.errors)")
    }
}
