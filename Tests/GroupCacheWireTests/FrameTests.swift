import GroupCacheWire
import TestSupport
import Testing

@Suite struct FrameTests {
    @Test func headerFieldsAreBigEndian() {
        let frame = Frame(kind: .get, flags: .route, id: 0x0102_0304, payload: [0xaa, 0xbb])
        let want = hexBytes("00 00 00 08  01  01  01 02 03 04  aa bb")
        #expect(frame.encoded() == want, "got \(frame.encoded().hex); want \(want.hex)")
    }

    @Test func emptyFrameIsTenBytes() {
        var buffer: [UInt8] = []
        Frame.encode(kind: .pong, id: 0xffff_ffff, to: &buffer)
        #expect(buffer == hexBytes("00 00 00 06 85 00 ff ff ff ff"), "got \(buffer.hex)")
        #expect(buffer == Frame(kind: .pong, id: 0xffff_ffff).encoded())
    }

    @Test func encodingAMessageStraightIntoTheBufferMatchesEncodingItsFrame() {
        let messages: [(FrameKind, any WireMessage)] = [
            (.get, GetRequest(group: [0x67], key: [0x00, 0xff])),
            (.getReply, GetResponse(value: repeated([1, 2, 3], toCount: 70_000), expire: 7)),
            (.set, SetRequest(group: [0x67], key: [0x6b], value: [], expire: 0)),
            (.statsReply, StatsResponse(groups: [])),
            (.error, ErrorResponse(code: .notFound, message: "nope")),
        ]
        for (kind, message) in messages {
            var direct: [UInt8] = [0xee]
            Frame.encode(kind: kind, flags: .route, id: 9, message: message, to: &direct)
            let viaFrame = [0xee] + Frame(kind: kind, flags: .route, id: 9, message: message).encoded()
            #expect(direct == viaFrame, "\(kind): got \(direct.prefix(16).hex)…; want \(viaFrame.prefix(16).hex)…")
        }
    }

    @Test func framesBatchIntoOneBuffer() throws {
        var buffer: [UInt8] = []
        for id in UInt32(1)...3 {
            Frame.encode(kind: .ping, id: id, to: &buffer)
            Frame.encode(kind: .get, id: id, message: GetRequest(group: [0x67], key: [UInt8(id)]), to: &buffer)
        }
        var parser = FrameParser()
        parser.append(buffer)
        var ids: [UInt32] = []
        while let frame = try parser.next() { ids.append(frame.id) }
        #expect(ids == [1, 1, 2, 2, 3, 3])
    }
}
