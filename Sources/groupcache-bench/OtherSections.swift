import BenchSupport
import Foundation

/// The floor and the systems we compare with, all through the same blocking client.
enum OtherSections {
    /// The size of a GET frame for a short key: the floor's request.
    static let requestBytes = 32

    /// A plain TCP round trip: `requestBytes` out, the value's size back, to a blocking echo server in a process of
    /// its own (this executable with --echo-server), placed as every other server is.
    static func floor(_ settings: Settings, _ report: Report) throws {
        let scratch = [UInt8](repeating: 0x61, count: requestBytes)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        for size in settings.sizes {
            let server = try Child(
                name: "echo server", executable: executable, arguments: ["--echo-server", "\(requestBytes)", "\(size)"],
                log: settings.logs.appendingPathComponent("echo-\(size).log"), cpus: settings.placement.serverCPUs)
            defer { server.stop() }
            let port = try server.listeningPort()
            let connection = try BlockingConnection(port: port)
            let sample = try measureSequentially(count: settings.requests) {
                try EchoServer.request(connection, requestBytes: requestBytes, replyBytes: size, scratch: scratch)
            }
            report.add(Row(section: "floor", system: "floor (TCP)", valueBytes: size, callers: 1, sample: sample))
            for callers in settings.callers {
                let sample = try measureThreads(callers: callers, seconds: settings.seconds) { _ in
                    try BlockingConnection(port: port)
                } request: { connection in
                    try EchoServer.request(connection, requestBytes: requestBytes, replyBytes: size, scratch: scratch)
                }
                report.add(Row(section: "floor", system: "floor (TCP)", valueBytes: size, callers: callers, sample: sample))
            }
        }
    }

    /// The echo server's process: serves until its standard input closes.
    static func runEchoServer(requestBytes: Int, replyBytes: Int) -> Never {
        do {
            let port = try EchoServer.start(requestBytes: requestBytes, replyBytes: replyBytes)
            FileHandle.standardOutput.write(Data("listening 127.0.0.1:\(port)\n".utf8))
            while readLine() != nil {}
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("echo server: \(error)\n".utf8))
            exit(1)
        }
    }

    /// GETs of a stored value of each size, one caller and many, against a server this starts.
    private static func measureGets(
        _ settings: Settings, _ report: Report, system: String, port: Int,
        prepare: (BlockingConnection, String, [UInt8]) throws -> Void,
        request: @escaping @Sendable (String) -> [UInt8],
        get: @escaping @Sendable (BlockingConnection, [UInt8], Int) throws -> Void
    ) throws {
        for size in settings.sizes {
            let key = "bench-\(size)"
            let connection = try BlockingConnection(port: port)
            try prepare(connection, key, [UInt8](repeating: 0x61, count: size))
            let bytes = request(key)
            let sample = try measureSequentially(count: settings.requests) { try get(connection, bytes, size) }
            report.add(Row(section: "peer hit", system: system, valueBytes: size, callers: 1, sample: sample))
            for callers in settings.callers {
                let sample = try measureThreads(callers: callers, seconds: settings.seconds) { _ in
                    try BlockingConnection(port: port)
                } request: { connection in
                    try get(connection, bytes, size)
                }
                report.add(Row(section: "peer hit", system: system, valueBytes: size, callers: callers, sample: sample))
            }
        }
    }

    static func memcached(_ settings: Settings, _ report: Report) throws {
        guard let executable = findExecutable("memcached") else {
            return report.note("memcached skipped: not installed (Debian: apt-get install memcached)")
        }
        let port = try freePort()
        // Four worker threads (memcached's default), 1 GiB, loopback only, no UDP.
        let server = try Child.server(
            name: "memcached", command: [executable, "-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-m", "1024", "-u", "root"],
            log: settings.logs.appendingPathComponent("memcached.log"),
            cpus: settings.placement.serverCPUs)
        defer { server.stop() }
        _ = try waitForPort(port, name: "memcached")
        try measureGets(
            settings, report, system: "memcached", port: port, prepare: Memcached.set, request: Memcached.getRequest,
            get: Memcached.get)
    }

    static func redis(_ settings: Settings, _ report: Report) throws {
        guard let executable = findExecutable("redis-server") else {
            return report.note("Redis skipped: not installed (Debian: apt-get install redis-server)")
        }
        let port = try freePort()
        let server = try Child.server(
            name: "redis-server",
            command: [executable, "--bind", "127.0.0.1", "--port", "\(port)", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            log: settings.logs.appendingPathComponent("redis.log"),
            cpus: settings.placement.serverCPUs)
        defer { server.stop() }
        _ = try waitForPort(port, name: "redis-server")
        try measureGets(settings, report, system: "redis", port: port, prepare: Redis.set, request: Redis.getRequest, get: Redis.get)
    }

    /// golang/groupcache: its HTTP peer protocol served by go-bench (one process per value size), fetched with our
    /// blocking client; and its in-process Group.Get.
    static func goGroupcache(_ settings: Settings, _ report: Report) throws {
        guard FileManager.default.isExecutableFile(atPath: settings.goBench) else {
            return report.note("Go groupcache skipped: no go-bench at '\(settings.goBench)' (tools/bench builds it with Debian's golang-go)")
        }
        let local = try Child(
            name: "go-bench", executable: settings.goBench, arguments: ["local", "-value-bytes", "64", "-gets", settings.smoke ? "100000" : "2000000"],
            log: settings.logs.appendingPathComponent("go-local.log"),
            cpus: settings.placement.clientCPUs)
        let line = try local.readLine(timeout: 120)
        local.stop()
        let figures = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard line.hasPrefix("ns/op "), figures.count == 2 else { throw Child.Failure(description: "go-bench local said \(line)") }
        var row = Row(section: "local", system: "go groupcache", valueBytes: 64, callers: 1)
        row.nanosecondsPerOperation = figures[0]
        row.notes["median_ns"] = String(format: "%.1f", figures[1])
        report.add(row)

        for size in settings.sizes {
            let server = try Child(
                name: "go-bench", executable: settings.goBench, arguments: ["serve", "-value-bytes", "\(size)"],
                log: settings.logs.appendingPathComponent("go-serve-\(size).log"),
            cpus: settings.placement.serverCPUs)
            defer { server.stop() }
            let port = try server.listeningPort()
            var one = settings
            one.sizes = [size]
            try measureGets(
                one, report, system: "go groupcache HTTP", port: port, prepare: { _, _, _ in },
                request: { GoGroupcacheHTTP.getRequest(group: "bench", key: $0) }, get: GoGroupcacheHTTP.get)
        }
    }
}
