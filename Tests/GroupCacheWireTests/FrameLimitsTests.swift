import GroupCacheWire
import TestSupport
import Testing

private let kib = 1 << 10
private let mib = 1 << 20

@Suite struct FrameLimitsTests {
    @Test(arguments: [
        (FrameKind.get, 64 * kib), (.remove, 64 * kib), (.ping, 64 * kib), (.stats, 64 * kib),
        (FrameKind(rawValue: 0x42), 64 * kib),
        (.removeKeys, 1 * mib),
        (.set, 64 * mib + 64 * kib), (.getReply, 64 * mib + 64 * kib),
        (.setReply, 64 * kib), (.removeReply, 64 * kib), (.removeKeysReply, 64 * kib), (.pong, 64 * kib),
        (FrameKind(rawValue: 0xc2), 64 * kib),
        (.statsReply, 4 * mib), (.error, 4 * kib),
    ])
    func defaults(kind: FrameKind, want: Int) {
        let got = FrameLimits().maxPayloadBytes(for: kind)
        #expect(got == want, "\(kind): got \(got); want \(want)")
    }

    @Test func valueLimitMovesSetAndGetReply() {
        let limits = FrameLimits(maxValueBytes: 1 * mib)
        #expect(limits.maxPayloadBytes(for: .set) == mib + 64 * kib)
        #expect(limits.maxPayloadBytes(for: .getReply) == mib + 64 * kib)
        #expect(limits.maxPayloadBytes(for: .get) == 64 * kib)
        #expect(FrameLimits().maxRemoveKeys == 10_000)
    }
}
