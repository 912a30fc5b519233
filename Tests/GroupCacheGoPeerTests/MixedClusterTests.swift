import Foundation
import GroupCache
import GroupCacheProtobuf
@testable import GroupCacheTCP
import GroupCacheAuth
import TestSupport
import Testing

/// Two Swift nodes and two real golang/groupcache peers (tools/go-peer) in one cluster over the frame protocol.
/// Message code on the Go side comes from protoc-gen-go, on ours from protobuf-c and swift-protobuf.
@Suite(.serialized, .enabled(if: GoPeer.isAvailable || GoPeer.isRequired))
struct MixedClusterTests {
    @Test func everyNodeAgreesOnTheOwnerOf10000Keys() async throws {
        try await MixedCluster.run { cluster in
            let keys = (0..<10_000).map { "key-\($0)" }
            let swiftOwners = keys.map { cluster.owner(of: $0) }
            #expect(keys.map { cluster.swift[1].ring.ownerPeer(of: CacheKey($0)).id } == swiftOwners)
            for peer in cluster.go {
                let goOwners = try await peer.owners(of: keys)
                #expect(goOwners.count == keys.count)
                let mismatches = zip(keys, zip(swiftOwners, goOwners)).filter { $1.0 != $1.1 }
                #expect(mismatches.count == 0, "\(peer.id) disagrees, first on \(mismatches.prefix(3))")
            }
            // Every member owns a share: an ID spelled differently in Go would own nothing.
            #expect(Set(swiftOwners) == Set(cluster.ids))
        }
    }

    /// The cluster runs authenticated (``MixedCluster``): a Go peer refuses a client without the secret or with
    /// the wrong one, serves one with it, and a Go peer holding the wrong secret cannot fetch from a Swift node:
    /// it loads for itself, and the Swift node counts the refusal.
    @Test func goPeersAndSwiftNodesAuthenticateEachOther() async throws {
        try await MixedCluster.run { cluster in
            let go = cluster.go[0]
            func client(_ secrets: ClusterSecrets?) throws -> TCPPeerClient {
                try TCPPeerClient(peer: Peer(id: go.id, address: go.address), options: TCPClientOptions(secrets: secrets))
            }
            let key = cluster.keys(1, ownedBy: go.id, prefix: "auth-")[0]
            let served = try await client(MixedCluster.secrets).get(group: "things", key: CacheKey(key), deadline: .now + .seconds(5))
            #expect(served.string == "\(key)@\(go.id)")
            let wrong = try ClusterSecrets([Array("not the cluster's secret, but 32 bytes long".utf8)])
            for secrets in [nil, wrong] {
                await #expect {
                    _ = try await client(secrets).get(group: "things", key: CacheKey(key), deadline: .now + .seconds(5))
                } throws: { error in
                    (error as? GroupCacheError)?.code == .unauthenticated
                }
            }

            let outsider = try await offThePool {
                try GoPeer(arguments: ["-secret-file", try temporarySecretFile(["not the cluster's secret, but 32 bytes long"])])
            }
            try await outsider.setPeers(cluster.swift.map(\.address) + cluster.go.map(\.address) + [outsider.address])
            // A key that the outsider's own ring gives to the first Swift node.
            let candidates = (0..<200).map { "outsider-\($0)" }
            let owners = try await outsider.owners(of: candidates)
            let swiftKey = try #require(zip(candidates, owners).first { $0.1 == cluster.swift[0].id }?.0)
            let value = try await outsider.get(swiftKey)
            #expect(String(decoding: value, as: UTF8.self).hasSuffix("@\(outsider.id)"), "the outsider loaded it itself")
            #expect(cluster.swift[0].loads == 0)
            #expect(cluster.swift[0].server.counters.count(of: .unauthenticated) >= 1)
        }
    }

    @Test func keysAskedConcurrentlyAtEveryNodeAreLoadedOnceClusterWide() async throws {
        try await MixedCluster.run(goArguments: ["-load-delay-ms", "20"]) { cluster in
            let keys = (0..<1_000).map { "k-\($0)" }
            let expected = keys.map { Array("\($0)@\(cluster.owner(of: $0))".utf8) }
            let answers = try await withThrowingTaskGroup(of: (String, [[UInt8]]).self) { tasks in
                for peer in cluster.go {
                    tasks.addTask { (peer.id, try await peer.getAll(keys)) }
                }
                for node in cluster.swift {
                    tasks.addTask {
                        let values = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { gets in
                            for (index, key) in keys.enumerated() {
                                gets.addTask { (index, try await node.things.get(CacheKey(key)).bytes) }
                            }
                            var values = [[UInt8]](repeating: [], count: keys.count)
                            for try await (index, value) in gets { values[index] = value }
                            return values
                        }
                        return (node.id, values)
                    }
                }
                return try await tasks.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for (id, values) in answers {
                let wrong = zip(keys, zip(values, expected)).filter { $1.0 != $1.1 }.map(\.0)
                #expect(wrong.count == 0, "\(id) got values not loaded by their owner, first for \(wrong.prefix(3))")
            }
            let loads = try await cluster.loads()
            let owned = cluster.ids.map { id in keys.filter { cluster.owner(of: $0) == id }.count }
            #expect(loads.reduce(0, +) == 1_000)
            #expect(loads == owned, "each node loads exactly the keys it owns")
            #expect(owned.allSatisfy { $0 > 0 })
            for node in cluster.swift { #expect(node.things.stats.peerErrors == 0) }
            for peer in cluster.go { #expect(try await peer.stat("peerErrors") == 0) }
        }
    }

    @Test func typedValuesCrossBothWays() async throws {
        try await MixedCluster.run { cluster in
            let goOwner = cluster.go[0], swiftOwner = cluster.swift[1], swiftCaller = cluster.swift[0]

            // Made by a Go loader, read typed in Swift, the bytes exactly those Go holds.
            let goKey = cluster.keys(1, ownedBy: goOwner.id, prefix: "user:")[0]
            let goUser = sampleUser(String(goKey.dropFirst("user:".count)), madeBy: "go")
            let typed = try await swiftCaller.things.get(CacheKey(goKey), as: Swiftgroupcache_Testdata_User.self)
            #expect(typed == goUser)
            let bytes = try await swiftCaller.things.get(CacheKey(goKey)).bytes
            #expect(bytes == (try await goOwner.get(goKey)))
            #expect(bytes == (try goUser.serializedBytes() as [UInt8]))

            // Made by a Swift loader, fetched and decoded by the other Go peer.
            let swiftKey = cluster.keys(1, ownedBy: swiftOwner.id, prefix: "user:")[0]
            let swiftUser = sampleUser(String(swiftKey.dropFirst("user:".count)), madeBy: "swift")
            #expect(try await cluster.go[1].user(swiftKey) == goDescription(of: swiftUser))
            #expect(swiftOwner.loads == 1)
        }
    }

    @Test func expiryCrossesInNanosecondsAndGoValuesNeverExpire() async throws {
        try await MixedCluster.run { cluster in
            let swiftOwner = cluster.swift[0]

            let ttlKey = cluster.keys(1, ownedBy: swiftOwner.id, prefix: "ttl:")[0]
            let value = Array("\(ttlKey)@\(swiftOwner.id)".utf8)
            #expect(try await cluster.go[0].fetch(ttlKey) == "value \(value.map { String(format: "%02x", $0) }.joined()) expire \(SwiftNode.expiry)")
            #expect(try await swiftOwner.things.get(CacheKey(ttlKey)).expiryNanoseconds == SwiftNode.expiry)

            let goKey = cluster.keys(1, ownedBy: cluster.go[1].id, prefix: "forever:")[0]
            let caller = cluster.swift[1]
            let first = try await caller.things.get(CacheKey(goKey))
            #expect(first.expiryNanoseconds == 0)
            #expect(first.expiresAt == nil)
            caller.clock.advance(by: .seconds(100 * 365 * 24 * 3600))
            let later = try await caller.things.get(CacheKey(goKey))
            #expect(later == first)
            #expect(try await cluster.go[1].loads() == 1)
            #expect(caller.loads == 0)
        }
    }

    @Test func errorsArriveAsTheirSwiftErrors() async throws {
        try await MixedCluster.run { cluster in
            let caller = cluster.swift[0], goOwner = cluster.go[0]

            let missing = cluster.keys(1, ownedBy: goOwner.id, prefix: "missing:")[0]
            #expect(await code { try await caller.things.get(CacheKey(missing)) } == .notFound)
            let failing = cluster.keys(1, ownedBy: goOwner.id, prefix: "fail:")[0]
            #expect(await code { try await caller.things.get(CacheKey(failing)) } == .loadFailed)
            // The loader's own errors are the answer: the caller neither counts a peer error nor loads itself.
            #expect(caller.things.stats.peerErrors == 0)
            #expect(caller.loads == 0)

            // A group the Go peer lacks: straight to it, the error; through a group, a peer error and a local load.
            let direct = try TCPNodeClient(address: goOwner.address, options: TCPClientOptions(secrets: MixedCluster.secrets))
            #expect(await code { try await direct.get("a", group: "swift-only") } == .noSuchGroup)
            let key = cluster.keys(1, ownedBy: goOwner.id, prefix: "own:")[0]
            #expect(try await caller.swiftOnly.get(CacheKey(key)).string == "\(key)@\(caller.id)")
            #expect(caller.swiftOnly.stats.peerErrors == 1)
        }
    }

    @Test func removeNamesTheGoPeersAndTheSwiftNodesRemove() async throws {
        try await MixedCluster.run { cluster in
            let owner = cluster.swift[0], other = cluster.swift[1]
            let key = CacheKey(cluster.keys(1, ownedBy: owner.id, prefix: "doomed:")[0])
            _ = try await other.things.get(key)
            _ = try await cluster.go[0].get(key.description)
            #expect(owner.loads == 1)

            let error = try await #require(throws: GroupCacheError.self) { try await other.things.remove(key) }
            #expect(error.code == .peersFailed)
            #expect(Set(error.failures.map(\.peerID)) == Set(cluster.go.map(\.id)))
            for failure in error.failures {
                #expect(failure.message.contains("unsupported") && failure.message.contains("golang/groupcache cannot remove"))
            }

            // The owner and the other Swift node removed theirs: the next get at the other node reaches the owner,
            // which loads again.
            _ = try await other.things.get(key)
            #expect(owner.loads == 2)
        }
    }

    @Test func aKilledGoPeerIsReplacedByLocalLoadsWithinTheDeadline() async throws {
        try await MixedCluster.run { cluster in
            let doomed = cluster.go[1], caller = cluster.swift[0]
            let keys = cluster.keys(200, ownedBy: doomed.id, prefix: "late:")
            let started = ContinuousClock.now
            var slowest = Duration.zero
            for (index, key) in keys.enumerated() {
                if index == 50 { try await doomed.kill() }
                let began = ContinuousClock.now
                let value = try await caller.things.get(CacheKey(key), timeout: .seconds(2))
                slowest = max(slowest, ContinuousClock.now - began)
                let loader = index < 50 ? doomed.id : caller.id
                #expect(value.string == "\(key)@\(loader)", "key \(index)")
            }
            #expect(slowest < .seconds(2), "the slowest get took \(slowest) of \(ContinuousClock.now - started)")
            #expect(caller.loads == 150)
            #expect(caller.things.stats.peerErrors >= 1)
        }
    }
}

/// The code of the GroupCacheError that `body` throws, or nil if it throws nothing or something else.
func code<T>(of body: () async throws -> T) async -> GroupCacheError.Code? {
    do {
        _ = try await body()
        return nil
    } catch let error as GroupCacheError {
        return error.code
    } catch {
        return nil
    }
}
