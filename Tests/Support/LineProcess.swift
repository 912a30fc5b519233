public import Foundation

#if canImport(Glibc)
import Glibc
import GroupCacheLock
#endif

/// A child process that the tests talk to in lines: commands on its standard input, answers on its standard
/// output. It exits when its standard input closes (the programs it runs are written so), so it never outlives
/// the test process; `deinit` also kills it, so a failing test leaves nothing behind.
///
/// Every method blocks: call them through ``offThePool(_:)``.
public final class LineProcess: Sendable {
    /// A child that did not start, answer or exit as expected.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// The process.
    public let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private let buffer = Lock(Data())
    /// Held across a command and its answer, so that concurrent commands do not take each other's answers.
    private let conversation = Lock(())

    /// Starts `executable` with `arguments`; its standard error goes to `errorLog`, or nowhere.
    public init(executable: URL, arguments: [String], errorLog: URL? = nil) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        if let errorLog {
            _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: errorLog)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        self.process = process
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        try? input.close()
        // Foundation keeps a running Process (and its pipes) alive until it has seen the child end: wait for
        // that here, or the objects outlive the test.
        process.waitUntilExit()
    }

    /// The next line the process prints, waiting at most `timeout`; `nil` if none came.
    public func readLine(timeout: TimeInterval = 20) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let line = buffer.withLock { data -> String? in
                guard let newline = data.firstIndex(of: 0x0A) else { return nil }
                let line = String(decoding: data[data.startIndex..<newline], as: UTF8.self)
                data.removeSubrange(data.startIndex...newline)
                return line
            }
            if let line { return line }
            var descriptor = pollfd(fd: output.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard Date() < deadline, poll(&descriptor, 1, 100) >= 0 else { return nil }
            if descriptor.revents != 0 {
                let chunk = output.availableData
                if chunk.isEmpty { return nil }
                buffer.withLock { $0.append(chunk) }
            }
        }
    }

    /// Writes `line` to the process's standard input.
    public func send(_ line: String) throws {
        try input.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Sends `line` and returns the line that answers it.
    public func ask(_ line: String, timeout: TimeInterval = 20) throws -> String {
        try conversation.withLock { _ in
            try send(line)
            guard let answer = readLine(timeout: timeout) else {
                throw Failure("\(process.executableURL?.lastPathComponent ?? "child") did not answer \(line.prefix(60))")
            }
            return answer
        }
    }

    /// Kills the process at once, as a crash would, and waits for it to end.
    public func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
