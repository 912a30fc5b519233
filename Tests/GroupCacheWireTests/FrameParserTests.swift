import GroupCacheWire
import TestSupport
import Testing

@Suite struct FrameParserTests {
    /// A stream of 50 frames of every kind, with payloads from empty to larger than a typical read.
    static func sampleFrames() -> [Frame] {
        var frames: [Frame] = []
        var id: UInt32 = 1
        func add(_ kind: FrameKind, _ flags: FrameFlags = [], _ payload: [UInt8]) {
            frames.append(Frame(kind: kind, flags: flags, id: id, payload: payload))
            id += 1
        }
        add(.get, .route, GetRequest(group: [0x67], key: [0x00, 0xff]).encoded())
        add(.getReply, [], GetResponse(value: repeated([7, 8, 9], toCount: 20_000), expire: 1).encoded())
        add(.ping, [], [])
        add(.pong, [], [])
        add(.set, [], SetRequest(group: [0x67], key: [0x6b], value: Array(0...255)).encoded())
        add(.setReply, [], [])
        add(.removeKeys, .route, RemoveKeysRequest(group: [0x67], keys: [[1], [], [2, 3]]).encoded())
        add(FrameKind(rawValue: 0x42), [], [1, 2, 3])
        add(.error, [], ErrorResponse(code: .unsupported, message: "kind 0x42").encoded())
        add(.stats, [], [])
        add(.statsReply, [], StatsResponse(groups: [StatsResponse.Group(name: [0x67])]).encoded())
        for size in [1, 9, 10, 11, 4095, 4096, 65_536] {
            add(.getReply, [], repeated([UInt8(size & 0xff)], toCount: size))
        }
        while frames.count < 49 {
            let key = Array("key-\(frames.count)".utf8)
            add(.get, frames.count.isMultiple(of: 3) ? .route : [], GetRequest(group: [0x67], key: key).encoded())
        }
        frames.append(Frame(kind: .error, id: 0, payload: ErrorResponse(code: .badRequest, message: "bye").encoded()))
        return frames
    }

    static func stream(of frames: [Frame]) -> [UInt8] {
        var bytes: [UInt8] = []
        for frame in frames { frame.encode(to: &bytes) }
        return bytes
    }

    /// Feeds `bytes` to a new parser in chunks of the sizes `nextSize` gives, taking turns with the three ways
    /// of adding bytes and the two of taking frames, and returns every frame it yields; expects nothing left
    /// over.
    static func parse(_ bytes: [UInt8], chunks nextSize: () -> Int) throws -> [Frame] {
        var parser = FrameParser()
        var got: [Frame] = []
        var offset = 0
        var chunkIndex = 0
        while offset < bytes.count {
            let size = min(nextSize(), bytes.count - offset)
            let chunk = bytes[offset..<offset + size]
            switch chunkIndex % 3 {
            case 0: parser.append(Array(chunk))
            case 1: parser.append(contentsOf: chunk)
            default:
                let wrote = parser.receive(atLeast: size) { room in
                    room.copyBytes(from: chunk)
                    return size
                }
                #expect(wrote == size)
            }
            if chunkIndex.isMultiple(of: 2) {
                while let frame = try parser.next() { got.append(frame) }
            } else {
                while try parser.nextFrame({ got.append(Frame(header: $0, payload: Array($1))) }) {}
            }
            offset += size
            chunkIndex += 1
        }
        #expect(parser.bufferedByteCount == 0)
        return got
    }

    @Test func everyFixedChunkSizeYieldsTheSameFrames() throws {
        let frames = Self.sampleFrames()
        #expect(frames.count == 50)
        let bytes = Self.stream(of: frames)
        for size in 1...64 {
            let got = try Self.parse(bytes) { size }
            #expect(got == frames, "chunks of \(size): got \(got.count) frames; want \(frames.count)")
        }
    }

    @Test func randomChunkingsYieldTheSameFrames() throws {
        let frames = Self.sampleFrames()
        let bytes = Self.stream(of: frames)
        for seed in 1...300 as ClosedRange<UInt64> {
            var random = SplitMix64(seed: seed)
            // Mostly small chunks, sometimes large ones, so frames split everywhere and chunks hold several.
            let got = try Self.parse(bytes) {
                let maximum = random.next() % 4 == 0 ? 100_000 : 24
                return Int.random(in: 1...maximum, using: &random)
            }
            #expect(got == frames, "seed \(seed): got \(got.count) frames; want \(frames.count)")
        }
    }

    @Test func oneByteAtATime() throws {
        let frames = Array(Self.sampleFrames().prefix(12))
        var parser = FrameParser()
        var got: [Frame] = []
        for byte in Self.stream(of: frames) {
            parser.append([byte])
            while let frame = try parser.next() { got.append(frame) }
        }
        #expect(got == frames)
    }

    @Test func everyCompleteFrameInAChunkIsReturnedAndThePartialOneKept() throws {
        let frames = Self.sampleFrames()
        let bytes = Self.stream(of: frames)
        let cut = bytes.count - 3
        var parser = FrameParser()
        parser.append(Array(bytes[..<cut]))
        var got: [Frame] = []
        while let frame = try parser.next() { got.append(frame) }
        #expect(got == Array(frames.dropLast()))
        #expect(parser.bufferedByteCount == frames.last!.encoded().count - 3)
        parser.append(Array(bytes[cut...]))
        #expect(try parser.next() == frames.last)
        #expect(try parser.next() == nil)
    }

    @Test func anOversizedFrameIsRefusedFromItsHeaderAlone() {
        // A GET claiming a 64 KiB + 1 byte payload: only the header has arrived.
        var parser = FrameParser()
        parser.append(hexBytes("00 01 00 07  01 00  00 00 00 01"))
        let error = #expect(throws: WireError.self) { try parser.next() }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.errorCode == .tooLarge)
        #expect(parser.bufferedByteCount == 10)
    }

    @Test func aLargeClaimBuffersOnlyWhatArrived() throws {
        // A SET claiming 60 MiB is within its limit; the parser waits for it without reserving the claim.
        var parser = FrameParser()
        parser.append(hexBytes("03 c0 00 06  02 00  00 00 00 01") + [UInt8](repeating: 0, count: 1000))
        #expect(try parser.next() == nil)
        #expect(parser.bufferedByteCount == 1010)
    }

    static let badHeaders: [(name: String, header: String, code: WireError.Code)] = [
        ("length 0", "00 00 00 00  01 00  00 00 00 01", .frameTooShort),
        ("length 5", "00 00 00 05  01 00  00 00 00 01", .frameTooShort),
        ("length 4 GiB", "ff ff ff ff  01 00  00 00 00 01", .frameTooLarge),
        ("GET over 64 KiB", "00 01 00 07  01 00  00 00 00 01", .frameTooLarge),
        ("REMOVE_KEYS over 1 MiB", "00 10 00 07  04 00  00 00 00 01", .frameTooLarge),
        ("SET over 64 MiB + 64 KiB", "04 01 00 07  02 00  00 00 00 01", .frameTooLarge),
        ("ERROR over 4 KiB", "00 00 10 07  ff 00  00 00 00 01", .frameTooLarge),
        ("unknown request over 64 KiB", "00 01 00 07  42 00  00 00 00 01", .frameTooLarge),
        ("flag bit 1", "00 00 00 06  05 02  00 00 00 01", .reservedFlags),
        ("flag bit 7", "00 00 00 06  05 80  00 00 00 01", .reservedFlags),
        ("all flags", "00 00 00 06  05 ff  00 00 00 01", .reservedFlags),
        ("ROUTE on a reply", "00 00 00 06  85 01  00 00 00 01", .reservedFlags),
        ("ROUTE on an ERROR", "00 00 00 06  ff 01  00 00 00 01", .reservedFlags),
        ("GET with id 0", "00 00 00 06  01 00  00 00 00 00", .zeroID),
        ("unknown request with id 0", "00 00 00 06  42 00  00 00 00 00", .zeroID),
        ("PONG with id 0", "00 00 00 06  85 00  00 00 00 00", .zeroID),
    ]

    @Test(arguments: badHeaders)
    func badHeadersAreRefused(name: String, header: String, code: WireError.Code) {
        var parser = FrameParser()
        parser.append(hexBytes(header))
        let error = #expect(throws: WireError.self, "\(name)") { try parser.next() }
        #expect(error?.code == code, "\(name): got \(String(describing: error)); want \(code)")
        // The stream cannot be trusted after that: the parser stays failed, whatever follows.
        parser.append(Frame(kind: .ping, id: 1).encoded())
        let again = #expect(throws: WireError.self, "\(name), again") { try parser.next() }
        #expect(again == error)
    }

    @Test func framesBeforeABadOneAreReturned() throws {
        var parser = FrameParser()
        parser.append(Frame(kind: .ping, id: 1).encoded() + hexBytes("00 00 00 06  05 02  00 00 00 02"))
        #expect(try parser.next() == Frame(kind: .ping, id: 1))
        #expect(throws: WireError.self) { try parser.next() }
    }

    @Test func acceptedEdgeCases() throws {
        let limits = FrameLimits()
        let frames = [
            Frame(kind: .error, id: 0, payload: []),  // a connection-level error
            Frame(kind: FrameKind(rawValue: 0x42), flags: .route, id: 1, payload: [1]),  // unknown, answered later
            Frame(kind: FrameKind(rawValue: 0xc2), id: 2, payload: [2]),  // an unknown reply
            Frame(kind: .get, id: 3, payload: [UInt8](repeating: 0, count: limits.maxRequestBytes)),  // at the limit
            Frame(kind: .ping, id: 4, payload: [0x78, 0x00]),  // a payload on PING: allowed, ignored by the server
        ]
        var parser = FrameParser(limits: limits)
        parser.append(FrameParserTests.stream(of: frames))
        var got: [Frame] = []
        while let frame = try parser.next() { got.append(frame) }
        #expect(got == frames)
    }

    @Test func customLimitsApply() {
        var limits = FrameLimits()
        limits.maxRequestBytes = 4
        var parser = FrameParser(limits: limits)
        parser.append(Frame(kind: .get, id: 1, payload: [1, 2, 3, 4, 5]).encoded())
        let error = #expect(throws: WireError.self) { try parser.next() }
        #expect(error?.code == .frameTooLarge)
    }

    @Test func manySmallFramesInManyChunksStayLinear() throws {
        // 200,000 frames through a parser that always holds a partial frame: a quadratic buffer shift would take
        // minutes here.
        let frame = Frame(kind: .get, id: 7, payload: GetRequest(group: [0x67], key: [1, 2, 3]).encoded())
        let bytes = repeated(frame.encoded(), toCount: frame.encoded().count * 200_000)
        var parser = FrameParser()
        var count = 0
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + 65_537, bytes.count)
            parser.append(contentsOf: bytes[offset..<end])
            while try parser.next() != nil { count += 1 }
            offset = end
        }
        #expect(count == 200_000)
    }

    @Test func aLargeFrameIsReadIntoOneRoomOnceItsHeaderIsIn() throws {
        var limits = FrameLimits()
        limits.maxValueBytes = 1 << 20
        var parser = FrameParser(limits: limits)
        let value = repeated([1, 2, 3], toCount: 300_000)
        var bytes: [UInt8] = []
        Frame(kind: .getReply, id: 7, payload: GetResponse(value: value, expire: 9).encoded()).encode(to: &bytes)
        var rooms: [Int] = []
        var offset = 0
        while offset < bytes.count {
            offset += parser.receive(atLeast: 4096) { room in
                rooms.append(room.count)
                let count = min(4096, room.count, bytes.count - offset)
                room.copyBytes(from: bytes[offset..<offset + count])
                return count
            }
        }
        // The first read brought the header; from then on the room covered the rest of the frame.
        #expect(rooms.count > 2)
        #expect(rooms.dropFirst().allSatisfy { $0 >= 4096 })
        #expect(rooms[1] >= bytes.count - 4096)
        var decoded: (UInt32, GetResponse?)?
        #expect(try parser.nextFrame { header, payload in decoded = (header.id, try? GetResponse.decode(from: payload)) })
        #expect(decoded?.0 == 7)
        #expect(decoded?.1 == GetResponse(value: value, expire: 9))
        #expect(parser.bufferedByteCount == 0)
    }

    @Test func aFrameOverItsLimitGetsNoRoomReservedAndFails() throws {
        var parser = FrameParser()
        // A GET claiming 1 GiB: refused from its header, and no room is made for it.
        let header = hexBytes("40 00 00 06 01 00 00 00 00 01")
        _ = parser.receive(atLeast: 16) { room in
            room.copyBytes(from: header)
            return header.count
        }
        var largest = 0
        _ = parser.receive(atLeast: 16) { room in
            largest = room.count
            return 0
        }
        #expect(largest < 1 << 20)
        #expect(throws: WireError.self) { try parser.next() }
    }
}
