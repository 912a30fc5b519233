@testable import GroupCacheWire
import TestSupport
import Testing

@Suite struct FrameKindTests {
    @Test(arguments: [
        (FrameKind.get, FrameKind.getReply), (.set, .setReply), (.remove, .removeReply),
        (.removeKeys, .removeKeysReply), (.ping, .pong), (.stats, .statsReply),
    ])
    func replyHasTheTopBitSet(request: FrameKind, reply: FrameKind) {
        #expect(request.isRequest)
        #expect(!reply.isRequest)
        #expect(request.reply == reply, "got \(String(describing: request.reply)); want \(reply)")
        #expect(reply.reply == nil)
    }

    @Test func namesAreTheProtocolsAndUnique() {
        #expect(Set(FrameKind.known.map(\.description)).count == FrameKind.known.count)
        #expect(FrameKind(rawValue: 0x42).description == "0x42")
        #expect(FrameKind(rawValue: 0x0a).description == "0x0A")
        #expect(FrameKind.error.description == "ERROR")
    }

    @Test func errorCodesHaveTheirProtocolNumbers() {
        let codes: [(ErrorCode, UInt32, String)] = [
            (.notFound, 1, "NOT_FOUND"), (.loadFailed, 2, "LOAD_FAILED"), (.noSuchGroup, 3, "NO_SUCH_GROUP"),
            (.badRequest, 4, "BAD_REQUEST"), (.tooLarge, 5, "TOO_LARGE"), (.unavailable, 6, "UNAVAILABLE"),
            (.internalError, 7, "INTERNAL"), (.unsupported, 8, "UNSUPPORTED"),
        ]
        for (code, number, name) in codes {
            #expect(code.rawValue == number, "\(name): got \(code.rawValue); want \(number)")
            #expect(code.description == name)
        }
        #expect(ErrorCode(rawValue: 99).description == "code 99")
    }
}
