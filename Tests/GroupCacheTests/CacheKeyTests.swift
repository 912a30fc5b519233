import GroupCache
import Testing

@Suite struct CacheKeyTests {
    @Test func precomposedAndDecomposedAreTwoKeys() {
        let precomposed = CacheKey("\u{E9}")
        let decomposed = CacheKey("e\u{301}")
        #expect("\u{E9}" == "e\u{301}", "Swift strings compare by canonical equivalence")
        #expect(precomposed != decomposed)
        #expect(precomposed.bytes == [0xC3, 0xA9])
        #expect(decomposed.bytes == [0x65, 0xCC, 0x81])
        #expect(Set([precomposed, decomposed]).count == 2)
    }

    @Test(arguments: [
        [UInt8](),
        [0x00],
        [0x61, 0x00, 0x62],
        [0xFF, 0xFE, 0x80],
        Array(repeating: 0x6B, count: 300),
    ])
    func arbitraryBytesAreKeptExactly(bytes: [UInt8]) {
        let key = CacheKey(bytes: bytes)
        #expect(key.bytes == bytes)
        #expect(key.count == bytes.count)
        #expect(key == CacheKey(bytes: bytes))
        #expect(key.hashValue == CacheKey(bytes: bytes).hashValue)
    }

    @Test func aLiteralIsItsUTF8() {
        let key: CacheKey = "user:42"
        #expect(key == CacheKey("user:42"))
        #expect(key.bytes == Array("user:42".utf8))
        #expect(key.description == "user:42")
    }

    @Test func describesBinaryKeysInHex() {
        #expect(CacheKey(bytes: [0x00, 0xFF]).description == "0x00ff")
    }
}
