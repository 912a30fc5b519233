import BenchSupport
import GroupCache

extension OurSections {
    /// Fairness: 4 connections, each sending 16 pipelined 64-byte GETs in one write and reading the 16 replies,
    /// against one node (on one CPU with the default placement). Each request's latency runs from its batch's
    /// write to its own reply. A server that serves one connection's burst while the others wait shows a p99
    /// far above its p50; the target is p99 within 10x p50.
    static func fairness(_ settings: Settings, _ report: Report) async throws {
        let cluster = try OurCluster(settings: settings, processes: 1, valueBytes: 64, hotCache: false, label: "fairness")
        try await cluster.run {
            let address = cluster.remotes[0].address
            guard let port = Int(address.split(separator: ":").last ?? "") else {
                throw Child.Failure(description: "no port in \(address)")
            }
            let keys = (0..<4).map { "fair-\($0)" }
            for key in keys { _ = try await cluster.clients[0].get(CacheKey(key), group: "bench") }
            let depth = 16
            // One client thread drives the four connections (poll), so that the tail measured is the server's,
            // not that of four client threads sharing the client's CPU.
            let sample = try measureRounds(callers: 1, seconds: settings.seconds) { _ in
                try keys.map { key in
                    var batch: [UInt8] = []
                    for id in 1...depth { batch += OurFrames.get(group: "bench", key: key, id: UInt32(id)) }
                    return (try BlockingConnection(port: port), batch)
                }
            } round: { connections, latencies in
                // Each reply is timed from the write of its batch.
                let start = ContinuousClock.now
                for (connection, batch) in connections { try connection.send(batch) }
                var left = Array(repeating: depth, count: connections.count)
                while left.contains(where: { $0 > 0 }) {
                    for index in try BlockingConnection.readable(connections.map(\.0)) where left[index] > 0 {
                        let kind = try OurFrames.readFrame(connections[index].0)
                        guard kind == 0x81 else { throw Child.Failure(description: "a frame of kind \(kind), not GET_REPLY") }
                        latencies.record(ContinuousClock.now - start)
                        left[index] -= 1
                    }
                }
            }
            var row = Row(section: "fairness", system: system, valueBytes: 64, callers: 4, sample: sample)
            row.notes["depth"] = "\(depth)"
            report.add(row)
        }
    }
}

/// Our frames, written by hand so the harness needs no codec: a GET is the 10-byte header and a GetRequest.
enum OurFrames {
    static func get(group: String, key: String, id: UInt32) -> [UInt8] {
        let payload = [0x0a, UInt8(group.utf8.count)] + Array(group.utf8) + [0x12, UInt8(key.utf8.count)] + Array(key.utf8)
        return bigEndian(UInt32(payload.count + 6)) + [0x01, 0x00] + bigEndian(id) + payload
    }

    /// Reads one whole frame and returns its kind.
    static func readFrame(_ connection: BlockingConnection) throws -> UInt8 {
        let header = try connection.read(10)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        try connection.skip(length - 6)
        return header[4]
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}
