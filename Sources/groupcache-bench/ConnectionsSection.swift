import BenchSupport
import Foundation
import GroupCache

extension OurSections {
    /// Separate connections: 16 and 64 blocking client threads, each with a connection of its own and one GET
    /// in flight (many peers, each with its own connection), against one node and against tools/go-peer, a
    /// golang/groupcache group served behind the same frames, each placed as every other server is. Our node
    /// serves a 64-byte value; go-peer's loader makes `<key>@<its ID>`, some 25 bytes. Each row's size is its
    /// reply's payload.
    static func connections(_ settings: Settings, _ report: Report) async throws {
        let cluster = try OurCluster(settings: settings, processes: 1, valueBytes: 64, hotCache: false, label: "connections")
        try await cluster.run {
            let key = "connections-0"
            _ = try await cluster.clients[0].get(CacheKey(key), group: "bench")
            try measureConnections(settings, report, system: system, address: cluster.remotes[0].address, key: key)
        }
        guard FileManager.default.isExecutableFile(atPath: settings.goPeer) else {
            return report.note("go-peer skipped: no go-peer at '\(settings.goPeer)' (tools/bench builds it with Debian's golang-go)")
        }
        let peer = try Child(
            name: "go-peer", executable: settings.goPeer, arguments: ["-listen", "127.0.0.1:0", "-group", "bench"],
            log: settings.logs.appendingPathComponent("go-peer.log"), cpus: settings.placement.serverCPUs)
        defer { peer.stop() }
        let port = try peer.listeningPort()
        try measureConnections(settings, report, system: "go groupcache (our frames)", address: "127.0.0.1:\(port)", key: "k")
    }

    private static func measureConnections(
        _ settings: Settings, _ report: Report, system: String, address: String, key: String
    ) throws {
        guard let port = Int(address.split(separator: ":").last ?? "") else {
            throw Child.Failure(description: "no port in \(address)")
        }
        let frame = OurFrames.get(group: "bench", key: key, id: 1)
        @Sendable func get(_ connection: BlockingConnection) throws {
            try connection.send(frame)
            let kind = try OurFrames.readFrame(connection)
            guard kind == 0x81 else { throw Child.Failure(description: "\(system) answered a GET with kind \(kind)") }
        }
        // The first GET loads the value; the measured ones hit.
        let first = try BlockingConnection(port: port)
        try first.send(frame)
        let header = try first.read(10)
        let replyBytes = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3]) + 4
        try first.skip(replyBytes - 10)
        for callers in settings.callers {
            let sample = try measureThreads(callers: callers, seconds: settings.seconds) { _ in
                try BlockingConnection(port: port)
            } request: { connection in
                try get(connection)
            }
            // The size column is the reply's payload: the values differ (see above).
            report.add(Row(section: "connections", system: system, valueBytes: replyBytes - 10, callers: callers, sample: sample))
        }
    }
}
