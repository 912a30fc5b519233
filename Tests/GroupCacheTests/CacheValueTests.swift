import Foundation
import GroupCache
import Testing

@Suite struct CacheValueTests {
    @Test func bytesAndStringBuildTheSameKindOfValue() throws {
        #expect(CacheValue([1, 2]).bytes == [1, 2])
        #expect(CacheValue("héllo").string == "héllo")
        #expect(CacheValue("ab").bytes == [0x61, 0x62])
    }

    @Test func expiryTravelsAsUnixNanoseconds() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.5)
        let value = CacheValue("v", expiresAt: date)
        #expect(value.expiryNanoseconds == 1_700_000_000_500_000_000)
        #expect(value.expiresAt == date)
        #expect(CacheValue("v").expiryNanoseconds == 0)
        #expect(CacheValue("v").expiresAt == nil)
    }

    @Test(arguments: [
        (expiry: Int64(0), now: Int64(5), expired: false),
        (expiry: 10, now: 5, expired: false),
        (expiry: 5, now: 5, expired: true),
        (expiry: 4, now: 5, expired: true),
        (expiry: -1, now: 5, expired: true),
        (expiry: .min, now: 5, expired: true),
    ])
    func expiry(expiry: Int64, now: Int64, expired: Bool) {
        #expect(CacheValue([], expiryNanoseconds: expiry).isExpired(at: now) == expired)
    }
}
