/// A consistent-hash ring that places peers and keys exactly as the Go groupcache flavours do, so that Swift and
/// Go nodes given the same peer IDs agree on every key's owner.
///
/// Each member is placed at `replicas` points; a key belongs to the member at the first point at or after the
/// key's hash, wrapping around to the first point. Where two points coincide, the member listed later wins, as
/// in Go.
///
/// Lookups allocate nothing: the ring is two sorted arrays, and a bucket table indexed by a hash's top bits
/// narrows the search to the few points that share them (a binary search over every point of a large ring
/// spends its time in cache misses).
///
/// Concurrency: an immutable value; share it freely. Build a new ring to change members.
public struct HashRing: Sendable {
    /// How points and keys are hashed.
    public enum Flavor: String, Sendable, CaseIterable {
        /// golang/groupcache: point = crc32(decimal replica index + member), key = crc32(key).
        case crc32
        /// mailgun/groupcache v2 and groupcache-go v3: point = fnv1_64(lowercase hex md5(decimal replica index +
        /// member)), key = fnv1_64(key).
        case fnv1
    }

    /// The number of points per member that Go groupcache uses by default.
    public static let defaultReplicas = 50

    /// The hash function in use.
    public let flavor: Flavor
    /// The number of points per member.
    public let replicas: Int
    /// The members, in the order given.
    public let members: [String]

    private let points: [UInt64]
    private let owners: [Int32]
    /// `buckets[b]` is the index of the first point whose top bits are at least `b`; one more entry than buckets.
    private let buckets: [Int32]
    /// How far a hash is shifted right to give its bucket.
    private let shift: UInt64

    /// Creates a ring of `members` (IDs as the Go peers spell them), in the order given.
    public init(flavor: Flavor, replicas: Int = HashRing.defaultReplicas, members: [String]) {
        precondition(replicas > 0, "a ring needs at least one point per member")
        self.flavor = flavor
        self.replicas = replicas
        self.members = members

        var placed: [(point: UInt64, member: Int32)] = []
        placed.reserveCapacity(members.count * replicas)
        for (memberIndex, member) in members.enumerated() {
            for replica in 0..<replicas {
                placed.append((Self.point(of: String(replica) + member, flavor: flavor), Int32(memberIndex)))
            }
        }
        // Sort by point; among equal points the later member sorts last and so overwrites the earlier ones below.
        placed.sort { ($0.point, $0.member) < ($1.point, $1.member) }
        var points: [UInt64] = []
        var owners: [Int32] = []
        points.reserveCapacity(placed.count)
        owners.reserveCapacity(placed.count)
        for (point, member) in placed {
            if points.last == point {
                owners[owners.count - 1] = member
            } else {
                points.append(point)
                owners.append(member)
            }
        }
        self.points = points
        self.owners = owners

        // About one bucket per point: the width of a hash is 32 bits for crc32, 64 for fnv1.
        let width: UInt64 = flavor == .crc32 ? 32 : 64
        var bits: UInt64 = 1
        while bits < 20, (1 << bits) < points.count { bits += 1 }
        let shift = width - bits
        var buckets = [Int32](repeating: 0, count: (1 << Int(bits)) + 1)
        var index = 0
        for bucket in 0..<(1 << Int(bits)) {
            while index < points.count, points[index] >> shift < UInt64(bucket) { index += 1 }
            buckets[bucket] = Int32(index)
        }
        buckets[1 << Int(bits)] = Int32(points.count)
        self.buckets = buckets
        self.shift = shift
    }

    /// Returns the index in ``members`` of the owner of the key held in `key`, or `nil` if the ring is empty.
    public func ownerIndex(of key: UnsafeRawBufferPointer) -> Int? {
        guard !points.isEmpty else { return nil }
        let hash = Self.hash(key, flavor: flavor)
        let bucket = Int(truncatingIfNeeded: hash >> shift)
        // Points before `low` hash below this bucket, points from `high` on above it: the owner's point is the
        // first one at or after the hash within [low, high), or else the one at `high`.
        var low = Int(buckets[bucket])
        var high = Int(buckets[bucket &+ 1])
        return points.withUnsafeBufferPointer { points in
            while low < high {
                let middle = (low &+ high) >> 1
                if points[middle] < hash { low = middle &+ 1 } else { high = middle }
            }
            return Int(owners[low == points.count ? 0 : low])
        }
    }

    /// Returns the ID of the owner of `key`, or `nil` if the ring is empty.
    public func owner(of key: some Sequence<UInt8>) -> String? {
        let index = key.withContiguousStorageIfAvailable { ownerIndex(of: UnsafeRawBufferPointer($0)) }
            ?? Array(key).withUnsafeBytes { ownerIndex(of: $0) }
        return index.map { members[$0] }
    }

    /// Returns the ID of the owner of the UTF-8 bytes of `key`, or `nil` if the ring is empty.
    public func owner(of key: String) -> String? {
        var key = key
        return key.withUTF8 { ownerIndex(of: UnsafeRawBufferPointer($0)) }.map { members[$0] }
    }

    /// Returns the hash of a key's bytes in `flavor`, widened to 64 bits.
    public static func hash(_ key: UnsafeRawBufferPointer, flavor: Flavor) -> UInt64 {
        switch flavor {
        case .crc32: UInt64(Hashes.crc32(key))
        case .fnv1: Hashes.fnv1_64(key)
        }
    }

    private static func point(of name: String, flavor: Flavor) -> UInt64 {
        let bytes = Array(name.utf8)
        switch flavor {
        case .crc32:
            return bytes.withUnsafeBytes { hash($0, flavor: .crc32) }
        case .fnv1:
            let hex = MD5.digest(bytes).flatMap { byte in
                [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
            return hex.withUnsafeBytes { Hashes.fnv1_64($0) }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
