import GroupCache
@testable import GroupCacheTCP
import GroupCacheWire
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Hardening I: whatever reaches a node's port, its memory stays within the documented bounds, and every
/// connection object is freed however the connection ends. Real sockets on 127.0.0.1; every wait is capped.
@Suite(.serialized) struct ServerLimitsTests {
    static func set(_ key: String, bytes: Int, id: UInt32) -> Frame {
        let request = SetRequest(
            group: Array("things".utf8), key: Array(key.utf8), value: [UInt8](repeating: 0x61, count: bytes), expire: 0)
        return Frame(kind: .set, id: id, message: request)
    }

    static func within(_ condition: () -> Bool) async throws -> Bool {
        try await TestSupport.within(.seconds(10), condition)
    }

    @Test func repliesStopAtTheOutputCapForAReaderThatDoesNotReadAndAllArriveWhenItDoes() async throws {
        let cap = 256 << 10
        let node = try ServedNode(options: TCPServerOptions(maxOutputBytesPerConnection: cap))
        let connection = try RawConnection(port: node.port, receiveBuffer: 16 << 10)
        let valueBytes = 16 << 10
        try connection.send([Self.set("big", bytes: valueBytes, id: 1)])
        #expect(try await connection.nextFrame()?.kind == .setReply)

        // 600 pipelined GETs of a 16 KiB value: 9.6 MiB of replies, from 18 KiB of requests, more than the kernel
        // buffers on loopback (a 4 MiB send buffer at most, and the client keeps its receive buffer small).
        let count = 600
        try connection.send((0..<count).map { ServedNode.get("big", id: UInt32(2 + $0)) })
        let counters = node.server.counters
        #expect(try await Self.within { counters.outputPauses.load(ordering: .relaxed) > 0 })
        // The server stopped reading: what it buffers stays at the cap plus the reply that crossed it.
        let bound = cap + valueBytes + 1024
        for _ in 0..<20 {
            let buffered = counters.bufferedOutputBytes.load(ordering: .relaxed)
            #expect(buffered <= bound, "\(buffered) bytes buffered; the bound is \(bound)")
            try await Task.sleep(for: .milliseconds(5))
        }
        let replies = try await connection.frames(count)
        #expect(Set(replies.map(\.id)) == Set((0..<count).map { UInt32(2 + $0) }))
        #expect(replies.allSatisfy { $0.kind == .getReply && $0.payload.count > valueBytes })
        try connection.send([Frame(kind: .ping, id: 9999)])
        #expect(try await connection.nextFrame() == Frame(kind: .pong, id: 9999), "backpressure closed the connection")
        #expect(counters.bufferedOutputBytes.load(ordering: .relaxed) == 0)
        await node.server.shutdown()
    }

    @Test func aConnectionWhoseRepliesDoNotMoveIsClosedAfterTheWriteTimeout() async throws {
        let node = try ServedNode(
            options: TCPServerOptions(maxOutputBytesPerConnection: 64 << 10, writeTimeout: .milliseconds(100)))
        let connection = try RawConnection(port: node.port, receiveBuffer: 16 << 10)
        try connection.send([Self.set("big", bytes: 64 << 10, id: 1)])
        #expect(try await connection.nextFrame()?.kind == .setReply)
        try connection.send((0..<200).map { ServedNode.get("big", id: UInt32(2 + $0)) })
        let counters = node.server.counters
        #expect(try await Self.within { counters.count(of: .writeTimeout) == 1 })
        #expect(try await Self.within { node.server.connectionCount == 0 })
        #expect(counters.bufferedOutputBytes.load(ordering: .relaxed) == 0)
        await node.server.shutdown()
    }

    @Test func framesThatWouldPassTheInputBudgetWaitForRoom() async throws {
        let budget = 1 << 20
        let node = try ServedNode(options: TCPServerOptions(maxBufferedInputBytes: budget))
        let first = try node.connect()
        let second = try node.connect()
        let frameA = Self.set("a", bytes: 700 << 10, id: 1).encoded()
        let frameB = Self.set("b", bytes: 700 << 10, id: 2).encoded()
        let counters = node.server.counters
        try first.send(Array(frameA.prefix(100 << 10)))
        #expect(try await Self.within { node.server.budgetReserved == frameA.count })
        try second.send(Array(frameB.prefix(100 << 10)))
        #expect(try await Self.within { counters.inputPauses.load(ordering: .relaxed) == 1 })
        #expect(node.server.budgetReserved == frameA.count, "the second frame was given room that is not there")

        try first.send(Array(frameA.dropFirst(100 << 10)))
        #expect(try await first.nextFrame()?.kind == .setReply)
        // The first frame's room was given back; the second connection now reads, and its frame completes.
        try second.send(Array(frameB.dropFirst(100 << 10)))
        #expect(try await second.nextFrame()?.kind == .setReply)
        #expect(try await Self.within { node.server.budgetReserved == 0 })
        await node.server.shutdown()
    }

    @Test func aFrameLargerThanTheWholeInputBudgetIsRefused() async throws {
        let node = try ServedNode(options: TCPServerOptions(maxBufferedInputBytes: 64 << 10))
        let bad = try node.connect()
        let good = try node.connect()
        try bad.send(Array(Self.set("a", bytes: 100 << 10, id: 1).encoded().prefix(1000)))
        let error = try #require(try await bad.nextFrame())
        #expect(error.errorCode == .tooLarge && error.id == 0)
        #expect(try await bad.closesWithin(.seconds(5)))
        try good.send([ServedNode.get("k", id: 2)])
        #expect(try await good.nextFrame()?.value == "k!")
        #expect(node.server.counters.count(of: .tooLarge) == 1)
        await node.server.shutdown()
    }

    @Test func aLargeFrameSentSlowlyCompletesAndADripIsClosed() async throws {
        let node = try ServedNode(options: TCPServerOptions(partialFrameTimeout: .milliseconds(500)))
        let slow = try node.connect()
        let frame = Self.set("slow", bytes: 1 << 20, id: 1).encoded()
        // 1 MiB in 64 KiB pieces 100 ms apart: about 1.6 s in all, three times the timeout. Sent from a thread of
        // its own, so that a busy cooperative pool cannot stretch the pauses.
        try await offThePool {
            var offset = 0
            while offset < frame.count {
                let end = min(frame.count, offset + (64 << 10))
                try slow.send(Array(frame[offset..<end]))
                offset = end
                usleep(100_000)
            }
        }
        #expect(try await slow.nextFrame()?.kind == .setReply)

        let drip = try node.connect()
        let started = ContinuousClock.now
        let dripped = Self.set("drip", bytes: 100, id: 2).encoded()
        var closed = false
        for byte in dripped.prefix(40) {
            do { try drip.send([byte]) } catch { closed = true; break }
            try await Task.sleep(for: .milliseconds(20))
            if node.server.counters.count(of: .partialFrame) == 1 { closed = true; break }
        }
        let counted = try await Self.within { node.server.counters.count(of: .partialFrame) == 1 }
        #expect(closed && counted, "the drip was not closed for its partial frame")
        #expect(ContinuousClock.now - started < .seconds(5))
        await node.server.shutdown()
    }

    @Test func aLengthBelowSixClosesOnceTheFourLengthBytesAreIn() async throws {
        let node = try ServedNode()
        let connection = try node.connect()
        try connection.send(hexBytes("00 00 00 05"))
        let error = try #require(try await connection.nextFrame())
        #expect(error.errorCode == .badRequest && error.id == 0)
        #expect(try await connection.closesWithin(.seconds(5)))
        await node.server.shutdown()
    }

    /// The ways a connection ends, each done to 40 connections.
    enum Ending: String, CaseIterable {
        case closedAtOnce, resetAtOnce, violation, idle, partialFrame, afterAReply, shutdown
    }

    @Test(arguments: Ending.allCases)
    func everyConnectionObjectIsFreedWhenItsConnectionEnds(_ ending: Ending) async throws {
        let node = try ServedNode(
            options: TCPServerOptions(idleTimeout: .milliseconds(50), partialFrameTimeout: .milliseconds(50)))
        let counters = node.server.counters
        var open: [RawConnection] = []
        for id in 0..<40 {
            let connection = try node.connect()
            switch ending {
            case .closedAtOnce:
                break
            case .resetAtOnce:
                connection.resetOnClose()
            case .violation:
                try connection.send(hexBytes("00 00 00 06 05 02 00 00 00 01"))
            case .idle, .shutdown:
                open.append(connection)
            case .partialFrame:
                try connection.send(Array(ServedNode.get("k", id: 1).encoded().prefix(12)))
                open.append(connection)
            case .afterAReply:
                try connection.send([ServedNode.get("k\(id)", id: 1)])
                _ = try await connection.nextFrame()
            }
        }
        #expect(try await Self.within { counters.accepted.load(ordering: .relaxed) == 40 })
        if ending == .shutdown {
            #expect(node.server.connectionCount == 40)
            await node.server.shutdown()
        }
        open.removeAll()
        let freed = try await Self.within {
            counters.connectionObjects.load(ordering: .relaxed) == 0 && node.server.connectionCount == 0
        }
        #expect(freed, "\(ending): \(counters.connectionObjects.load(ordering: .relaxed)) connection objects alive")
        await node.server.shutdown()
    }

    @Test func aReplyOverTheLimitsIsAnErrorAndTheConnectionCarriesOn() async throws {
        var limits = FrameLimits()
        limits.maxValueBytes = 1000
        let node = try ServedNode(options: TCPServerOptions(limits: limits))
        try await node.registry.group(named: "things")!.set("big", to: CacheValue([UInt8](repeating: 1, count: 2000)))
        let connection = try node.connect()
        try connection.send([ServedNode.get("big", id: 5), Frame(kind: .ping, id: 6)])
        let frames = try await connection.frames(2).sorted { $0.id < $1.id }
        #expect(frames[0].errorCode == .tooLarge && frames[0].id == 5)
        #expect(frames[1] == Frame(kind: .pong, id: 6))
        #expect(node.server.counters.repliesTooLarge.load(ordering: .relaxed) == 1)
        await node.server.shutdown()
    }

    @Test func requestsOverTheSendersLimitsFailLocallyAndTheConnectionCarriesOn() async throws {
        let node = try ServedNode()
        var limits = FrameLimits()
        limits.maxValueBytes = 1000
        let client = try TCPNodeClient(address: "127.0.0.1:\(node.port)", options: TCPClientOptions(limits: limits))
        try await client.set("fits", to: CacheValue([UInt8](repeating: 1, count: 1000)), group: "things")
        let error = await #expect(throws: GroupCacheError.self) {
            try await client.set("big", to: CacheValue([UInt8](repeating: 1, count: 1001)), group: "things")
        }
        #expect(error?.code == .tooLarge)
        let longKey = await #expect(throws: GroupCacheError.self) {
            _ = try await client.get(CacheKey(String(repeating: "k", count: 70_000)), group: "things")
        }
        #expect(longKey?.code == .tooLarge, "a GET over 64 KiB was sent")
        #expect(try await client.get("fits", group: "things").bytes.count == 1000)
        #expect(node.server.counters.count(of: .tooLarge) == 0, "the oversized SET reached the server")
        #expect(node.server.counters.accepted.load(ordering: .relaxed) == 1, "the connection was replaced")
        await node.server.shutdown()
    }
}
