// The bodies of the three fuzz targets. tools/fuzz compiles this file into one module with GroupCacheWire's sources
// (-D FUZZING) and Fuzz/FuzzMain.swift; the normal test run replays the committed corpora through the same
// functions (FuzzCorpusTests). Each returns the invariants the input broke; an empty list is a pass.
#if !FUZZING
@testable import GroupCacheWire
#endif

enum WireFuzzing {
    /// Feeds `bytes` to a ``FrameParser`` in chunks whose sizes the first byte seeds, taking frames after every
    /// chunk. Checks: the frames taken re-encode to exactly the bytes they came from; nothing is buffered beyond
    /// what was fed; every payload is within its kind's limit; after an error, the parser keeps throwing it.
    /// The next frame, taken in place and copied, as a client takes it.
    private static func inPlace(_ parser: inout FrameParser) throws(WireError) -> Frame? {
        var frame: Frame?
        _ = try parser.nextFrame { frame = Frame(header: $0, payload: Array($1)) }
        return frame
    }

    static func frameParser(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        var limits = FrameLimits()
        limits.maxValueBytes = 1 << 16
        var parser = FrameParser(limits: limits)
        var random = (bytes.first.map(UInt64.init) ?? 0) &* 0x9E37_79B9_7F4A_7C15 | 1
        var fed = 0
        var consumed: [UInt8] = []
        var failure: WireError?
        while fed < bytes.count, failure == nil {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            let size = min(bytes.count - fed, 1 + Int(random % 97))
            if random & 0x100 == 0 {
                parser.append(contentsOf: bytes[fed..<fed + size])
            } else {
                // Straight into the buffer, as a client reads.
                let chunk = bytes[fed..<fed + size]
                let wrote = parser.receive(atLeast: size) { room in
                    if room.count < size { return 0 }
                    room.copyBytes(from: chunk)
                    return size
                }
                if wrote != size { problems.append("receive gave \(wrote) bytes of room for \(size)") }
            }
            fed += size
            do {
                while let frame = try (random & 0x200 == 0 ? parser.next() : inPlace(&parser)) {
                    if frame.payload.count > limits.maxPayloadBytes(for: frame.kind) {
                        problems.append("a \(frame.kind) frame of \(frame.payload.count) bytes passed its limit")
                    }
                    frame.encode(to: &consumed)
                }
            } catch {
                failure = error
            }
            if parser.bufferedByteCount + consumed.count != fed {
                problems.append("buffered \(parser.bufferedByteCount) + consumed \(consumed.count) != fed \(fed)")
            }
        }
        if consumed != Array(bytes.prefix(consumed.count)) {
            problems.append("the frames taken do not re-encode to the bytes they came from")
        }
        if let failure {
            do {
                _ = try parser.next()
                problems.append("the parser recovered after \(failure)")
            } catch {
                if error != failure { problems.append("the parser threw \(error) after \(failure)") }
            }
        }
        return problems
    }

    /// Decodes `bytes` as every message kind. Checks: a decode holds at most its budget and gives back every byte
    /// it took, whether it succeeds or throws; a message that decodes encodes to bytes that decode to it again.
    static func decoders(_ bytes: [UInt8]) -> [String] {
        var problems: [String] = []
        func check<Message: WireMessage>(_ type: Message.Type) {
            let decoded = try? Message.decode(from: bytes)
            let memory = DecodeMemory.last
            if memory.peak > memory.cap { problems.append("\(Message.self) held \(memory.peak) bytes; cap \(memory.cap)") }
            if memory.held != 0 { problems.append("\(Message.self) kept \(memory.held) bytes after decoding") }
            guard let decoded else { return }
            guard let again = try? Message.decode(from: decoded.encoded()) else {
                problems.append("\(Message.self) re-encoded does not decode")
                return
            }
            if again != decoded { problems.append("\(Message.self) changed on a round trip: \(decoded) -> \(again)") }
        }
        check(GetRequest.self)
        check(GetResponse.self)
        check(SetRequest.self)
        check(RemoveRequest.self)
        check(RemoveKeysRequest.self)
        check(ErrorResponse.self)
        check(StatsResponse.self)
        return problems
    }

    /// Decodes `bytes` as a GetResponse twice: in place (``GetResponseReader``, what a client uses) and through
    /// protobuf-c. Checks: both accept or both refuse, and what they accept is the same value and expiry.
    static func getReply(_ bytes: [UInt8]) -> [String] {
        let ours = bytes.withUnsafeBytes { raw in Result { () throws(WireError) in try GetResponse.decode(from: raw) } }
        let theirs = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) in try GetResponse.decodeWithProtobufC(from: raw) }
        }
        switch (ours, theirs) {
        case (.success(let ours), .success(let theirs)):
            return ours == theirs ? [] : ["in place: \(ours.value.count) bytes, expire \(ours.expire); protobuf-c: "
                + "\(theirs.value.count) bytes, expire \(theirs.expire)"]
        case (.failure, .failure):
            return []
        case (.success, .failure(let error)):
            return ["read in place, but protobuf-c refused it: \(error)"]
        case (.failure(let error), .success):
            return ["protobuf-c read it, but in place it was refused: \(error)"]
        }
    }
}
