import Foundation
@testable import GroupCacheRing
import TestSupport
import Testing

@Suite struct HashRingTests {
    static let threePeers = ["http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://127.0.0.1:8082"]

    @Test(arguments: [
        ("a", UInt64(0xaf63_bd4c_8601_b7be)),
        ("", UInt64(14_695_981_039_346_656_037)),
    ])
    func fnv1Vectors(input: String, want: UInt64) {
        let got = Array(input.utf8).withUnsafeBytes { Hashes.fnv1_64($0) }
        #expect(got == want, "got \(String(got, radix: 16)); want \(String(want, radix: 16))")
    }

    @Test(arguments: [
        ("123456789", UInt32(0xCBF4_3926)),
        ("", UInt32(0)),
        ("The quick brown fox jumps over the lazy dog", UInt32(0x414F_A339)),
    ])
    func crc32Vectors(input: String, want: UInt32) {
        let got = Array(input.utf8).withUnsafeBytes { Hashes.crc32($0) }
        #expect(got == want, "got \(String(got, radix: 16)); want \(String(want, radix: 16))")
    }

    /// The owners the compat notes give for three local peers.
    @Test(arguments: [
        (HashRing.Flavor.crc32, "a", "http://127.0.0.1:8081"),
        (.crc32, "foo", "http://127.0.0.1:8080"),
        (.fnv1, "a", "http://127.0.0.1:8081"),
        (.fnv1, "foo", "http://127.0.0.1:8081"),
    ])
    func ownerVectors(flavor: HashRing.Flavor, key: String, want: String) {
        let ring = HashRing(flavor: flavor, members: Self.threePeers)
        #expect(ring.owner(of: key) == want)
        #expect(ring.owner(of: Array(key.utf8)) == want)
    }

    @Test(arguments: HashRing.Flavor.allCases)
    func anEmptyRingHasNoOwner(flavor: HashRing.Flavor) {
        #expect(HashRing(flavor: flavor, members: []).owner(of: "a") == nil)
    }

    /// Where points coincide, the member listed later wins, as Go's map assignment does: a member listed twice
    /// puts all its points on the same spots, so every key goes to the later copy.
    @Test(arguments: HashRing.Flavor.allCases)
    func theLaterMemberWinsACollision(flavor: HashRing.Flavor) {
        let ring = HashRing(flavor: flavor, members: ["x", "x"])
        for key in ["a", "b", "c", "d"] {
            #expect(Array(key.utf8).withUnsafeBytes { ring.ownerIndex(of: $0) } == 1)
        }
    }

    @Test(arguments: HashRing.Flavor.allCases)
    func replicasSpreadRandomKeys(flavor: HashRing.Flavor) {
        let ring = HashRing(flavor: flavor, replicas: 50, members: Self.threePeers)
        var random = SplitMix64(seed: 5)
        var counts: [String: Int] = [:]
        for _ in 0..<3_000 { counts[ring.owner(of: "user:\(random.next())")!, default: 0] += 1 }
        #expect(counts.count == 3)
        #expect(counts.values.allSatisfy { $0 > 500 }, "got \(counts)")
    }

    /// FNV-1 ends by xoring in the last byte, so keys that differ only at the end hash to neighbouring points and
    /// land on few peers: a property of the Mailgun/v3 ring that compatibility obliges us to keep, and that the
    /// README warns about. The crc32 ring spreads the same keys.
    @Test func fnv1ClustersKeysThatDifferOnlyAtTheEnd() {
        func owners(_ flavor: HashRing.Flavor) -> Int {
            let ring = HashRing(flavor: flavor, members: Self.threePeers)
            return Set((0..<3_000).map { ring.owner(of: "key-\($0)")! }).count
        }
        #expect(owners(.crc32) == 3)
        #expect(owners(.fnv1) < 3)
    }

    /// The bucketed lookup against the definition: the member of the first point at or after the key's hash,
    /// found by scanning every point, for rings from 1 to 300 members and keys of every shape.
    @Test(arguments: HashRing.Flavor.allCases)
    func lookupsMatchALinearScan(flavor: HashRing.Flavor) {
        var random = SplitMix64(seed: 5)
        for memberCount in [1, 2, 3, 17, 300] {
            let members = (0..<memberCount).map { "http://10.1.\($0 / 256).\($0 % 256):80" }
            let ring = HashRing(flavor: flavor, replicas: 7, members: members)
            // Points as Go places them; later members overwrite earlier ones on a collision.
            var pointOwners: [UInt64: Int] = [:]
            for (index, member) in members.enumerated() {
                for replica in 0..<7 {
                    let name = Array((String(replica) + member).utf8)
                    let point: UInt64
                    switch flavor {
                    case .crc32:
                        point = name.withUnsafeBytes { HashRing.hash($0, flavor: .crc32) }
                    case .fnv1:
                        let hex = Array(MD5.digest(name).map { String(format: "%02x", $0) }.joined().utf8)
                        point = hex.withUnsafeBytes { HashRing.hash($0, flavor: .fnv1) }
                    }
                    pointOwners[point] = index
                }
            }
            let sorted = pointOwners.keys.sorted()
            for _ in 0..<2_000 {
                let key = (0..<Int(random.next() % 12)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let hash = key.withUnsafeBytes { HashRing.hash($0, flavor: flavor) }
                let point = sorted.first { $0 >= hash } ?? sorted[0]
                let got = key.withUnsafeBytes { ring.ownerIndex(of: $0) }
                #expect(got == pointOwners[point], "\(memberCount) members, key \(key)")
            }
        }
    }

    /// Our rings against Go's for 10,000 keys: golang/groupcache's own consistenthash for crc32, and the
    /// Mailgun/v3 algorithm written with Go's standard library for fnv1. Needs Debian's golang-go and
    /// golang-github-golang-groupcache-dev; CI installs them and sets GROUPCACHE_REQUIRE_GO=1 so the test cannot
    /// be skipped there.
    @Test(.enabled(if: GoRing.isAvailable || GoRing.isRequired), arguments: HashRing.Flavor.allCases)
    func agreesWithGo(flavor: HashRing.Flavor) async throws {
        let peers = (0..<7).map { "http://10.0.0.\($0 + 1):8080" } + ["10.0.1.1:9000", "[::1]:8081"]
        var random = SplitMix64(seed: 77)
        let keys = (0..<10_000).map { index -> String in
            switch index % 4 {
            case 0: "user:\(index)"
            case 1: String(random.next(), radix: 36)
            case 2: "é-ключ-\(index)-🙂"
            default: String(repeating: "k", count: Int(random.next() % 300))
            }
        }
        let goOwners = try await offThePool { try GoRing.owners(flavor: flavor, peers: peers, keys: keys) }
        let ring = HashRing(flavor: flavor, members: peers)
        var mismatches = 0
        for (key, goOwner) in zip(keys, goOwners) where ring.owner(of: key) != goOwner {
            mismatches += 1
            if mismatches <= 5 { Issue.record("key \(key): got \(ring.owner(of: key)!); want \(goOwner)") }
        }
        #expect(goOwners.count == keys.count)
        #expect(mismatches == 0)
    }
}

/// Builds and runs `tools/go-ring`.
enum GoRing {
    static let tool = GoTool("go-ring")
    static var isRequired: Bool { GoTool.isRequired }
    static var isAvailable: Bool { GoTool.isAvailable }

    static func owners(flavor: HashRing.Flavor, peers: [String], keys: [String]) throws -> [String] {
        let run = Process()
        run.executableURL = try tool.executable("ring-owners")
        run.arguments = ["-flavor", flavor.rawValue, "-peers", peers.joined(separator: ",")]
        let input = Pipe()
        let output = Pipe()
        run.standardInput = input
        run.standardOutput = output
        try run.run()
        let writer = Thread {
            input.fileHandleForWriting.write(Data(keys.joined(separator: "\n").utf8 + [0x0A]))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        run.waitUntilExit()
        guard run.terminationStatus == 0 else { throw LineProcess.Failure("ring-owners exited \(run.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            String(line.split(separator: "\t", omittingEmptySubsequences: false).last ?? "")
        }
    }
}
