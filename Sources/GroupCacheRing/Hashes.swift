/// The hash functions the Go groupcache flavours place peers and keys with.
///
/// Each takes a raw buffer so that callers hash the bytes they already hold, without copying them.
public enum Hashes {
    /// Returns the CRC-32 (IEEE polynomial, as Go's `crc32.ChecksumIEEE`) of `bytes`.
    @inlinable
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        crc32Table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ byte)] ^ (crc >> 8)
            }
        }
        return ~crc
    }

    /// Returns the 64-bit FNV-1 hash (multiply, then xor; not FNV-1a) of `bytes`, as Go's `fnv.New64`.
    @inlinable
    public static func fnv1_64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 14_695_981_039_346_656_037
        for byte in bytes {
            hash = (hash &* 1_099_511_628_211) ^ UInt64(byte)
        }
        return hash
    }

    /// The lookup table for the reflected IEEE polynomial 0xEDB88320.
    @usableFromInline
    static let crc32Table: [UInt32] = (0..<256).map { index -> UInt32 in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1
        }
        return value
    }
}
