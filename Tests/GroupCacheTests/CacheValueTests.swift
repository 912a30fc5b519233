import Foundation
import GroupCache
import Testing

/// A tiny message type, standing in for a protobuf message.
struct Point: CacheValueCodable, Equatable {
    var x: UInt8
    var y: UInt8
    func serializedCacheBytes() throws -> [UInt8] { [x, y] }
    init(x: UInt8, y: UInt8) {
        self.x = x
        self.y = y
    }
    init(serializedCacheBytes bytes: [UInt8]) throws {
        guard bytes.count == 2 else { throw CocoaError(.coderInvalidValue) }
        self.init(x: bytes[0], y: bytes[1])
    }
}

@Suite struct CacheValueTests {
    @Test func bytesStringAndMessageBuildTheSameKindOfValue() throws {
        #expect(CacheValue([1, 2]).bytes == [1, 2])
        #expect(CacheValue("héllo").string == "héllo")
        let point = try CacheValue(Point(x: 3, y: 4))
        #expect(point.bytes == [3, 4])
        #expect(try point.decode(as: Point.self) == Point(x: 3, y: 4))
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
