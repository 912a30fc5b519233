import BenchSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A process the harness started and must stop. Its standard input is a pipe from the harness: our own programs
/// (groupcache-node, go-bench) exit when it closes, and servers that ignore it (memcached, Redis) run under a
/// shell that kills them when it closes, so nothing outlives the harness, even when it crashes or is interrupted.
final class Child {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let name: String
    /// The child's PID; this class reaps it itself (posix_spawn and waitpid, not Foundation's Process, whose exit
    /// monitoring did not notice children ending when the main thread is parked in an async main).
    let pid: pid_t
    private var input: Int32
    private let output: Int32
    private var pending: [UInt8] = []
    private var exited = false

    /// Starts `executable`; its standard error goes to `log`. Every pipe end is close-on-exec, so no other child
    /// holds this one's standard input open.
    init(name: String, executable: String, arguments: [String], log: URL, cpus: String? = nil) throws {
        self.name = name
        let command = Placement.pinned([executable] + arguments, to: cpus)
        var stdin: [Int32] = [0, 0], stdout: [Int32] = [0, 0]
        // Glibc's module has no pipe2: the flag is set at once, and the harness starts children one at a time.
        guard pipe(&stdin) == 0, pipe(&stdout) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        for fd in stdin + stdout { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let logFD = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw Failure(description: "cannot write \(log.path)") }
        defer {
            close(stdin[0])
            close(stdout[1])
            close(logFD)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdout[1], 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The spawning thread may be a Dispatch worker, which blocks signals: the child must not inherit that mask
        // (a shell that blocks SIGCHLD never returns from `wait`, a server that blocks SIGTERM ignores it).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), defaults = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command[0], &actions, &attributes, argv, environ)
        guard result == 0 else {
            close(stdin[1])
            close(stdout[0])
            throw Failure(description: "cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        input = stdin[1]
        output = stdout[0]
    }

    /// Starts a server under `sh`, which prints the server's PID and stops the server when this process ends, so
    /// that it never outlives the harness, even when the harness crashes or is interrupted.
    static func server(name: String, command: [String], log: URL, cpus: String?) throws -> Child {
        let quoted = Placement.pinned(command, to: cpus).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let harness = getpid()
        // The shell waits for the server; a watcher beside it kills the server once the harness is gone.
        let script = """
            \(quoted) </dev/null & server=$!; echo "pid $server"
            (while kill -0 \(harness) 2>/dev/null; do sleep 0.5; done; kill $server 2>/dev/null) </dev/null >/dev/null 2>&1 &
            wait $server
            """
        let child = try Child(name: name, executable: "/bin/sh", arguments: ["-c", script], log: log)
        let line = try child.readLine()
        guard line.hasPrefix("pid "), let pid = Int32(line.dropFirst(4)) else {
            throw Failure(description: "\(name) did not start: \(line)")
        }
        child.serverPID = pid
        return child
    }

    /// The server's PID, for a server started by ``server(name:command:log:)``.
    private var serverPID: Int32?

    /// The next line the child prints, waiting at most `timeout` seconds.
    func readLine(timeout: Double = 20) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard Date() < deadline, poll(&descriptor, 1, 100) >= 0 else {
                throw Failure(description: "\(name) printed no line within \(timeout) s")
            }
            if descriptor.revents != 0 {
                let count = read(output, &chunk, chunk.count)
                if count <= 0 { throw Failure(description: "\(name) ended (see its log)") }
                pending += chunk[..<count]
            }
        }
    }

    /// Writes a line to the child's standard input and returns the line it answers.
    func ask(_ line: String) throws -> String {
        let bytes = Array((line + "\n").utf8)
        guard write(input, bytes, bytes.count) == bytes.count else { throw Failure(description: "\(name) does not read its input") }
        return try readLine()
    }

    /// The address from the child's first line, "listening <host:port>".
    func listeningPort() throws -> Int {
        let line = try readLine()
        guard line.hasPrefix("listening "), let port = line.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw Failure(description: "\(name) said \(line) instead of listening <host:port>")
        }
        return port
    }

    /// The child's resident memory in bytes (VmRSS), if it runs.
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").compactMap({ Int($0) }).first
        else { return nil }
        return kilobytes * 1024
    }

    /// Stops the child by its PID: SIGTERM (to the server, for one started under `sh`), then SIGKILL if it has not
    /// ended within 5 s.
    func stop() {
        if input >= 0 {
            close(input)
            input = -1
        }
        guard !hasExited() else { return }
        kill(serverPID ?? pid, SIGTERM)
        if !waitForExit(seconds: 5) {
            kill(pid, SIGKILL)
            if let serverPID { kill(serverPID, SIGKILL) }
            _ = waitForExit(seconds: 5)
        }
    }

    deinit {
        stop()
        close(output)
    }

    /// Whether the child has ended (and is reaped).
    private func hasExited() -> Bool {
        if !exited {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            exited = result == pid || (result < 0 && errno == ECHILD)
        }
        return exited
    }

    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !hasExited() && Date() < deadline { usleep(5_000) }
        return exited
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw Child.Failure(description: "no free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Connects to `port` until it accepts, for at most `timeout` seconds.
func waitForPort(_ port: Int, name: String, timeout: Double = 10) throws -> BlockingConnection {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if let connection = try? BlockingConnection(port: port) { return connection }
        guard Date() < deadline else { throw Child.Failure(description: "\(name) did not accept on port \(port)") }
        usleep(20_000)
    }
}

/// The first executable called `name` on the PATH or in /usr/sbin and /usr/bin.
func findExecutable(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    return (path + ["/usr/sbin", "/usr/bin", "/usr/local/bin"]).map { "\($0)/\(name)" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}
