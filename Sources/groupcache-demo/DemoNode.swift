import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `groupcache-node` process the demo started. It exits when its standard input closes, so it cannot outlive
/// the demo even if the demo is killed; ``stop()`` ends it at once.
final class DemoNode: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let process = Process()
    private(set) var address = ""
    private let input: FileHandle
    private let output: FileHandle
    private var buffered = Data()

    /// Starts a node next to this executable and waits until it listens.
    init(arguments: [String]) throws {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        process.executableURL = folder.appendingPathComponent("groupcache-node")
        process.arguments = ["--listen", "127.0.0.1:0"] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot start \(process.executableURL!.path): \(error) (run `swift build` first)")
        }
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading
        guard let line = readLine(), line.hasPrefix("listening ") else {
            stop()
            throw Failure(description: "groupcache-node did not start")
        }
        address = String(line.dropFirst("listening ".count))
    }

    /// Gives the node its cluster and waits until it uses it.
    func setPeers(_ addresses: [String]) throws {
        try input.write(contentsOf: Data("peers \(addresses.joined(separator: ","))\n".utf8))
        guard let line = readLine(), line.hasPrefix("peers ") else {
            throw Failure(description: "node \(address) did not take its peers")
        }
    }

    /// Kills the node and waits for it to end.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? input.close()
    }

    /// The node's next line on standard output, waiting at most 20 s.
    private func readLine() -> String? {
        let deadline = Date().addingTimeInterval(20)
        while true {
            if let newline = buffered.firstIndex(of: 0x0A) {
                let line = String(decoding: buffered[buffered.startIndex..<newline], as: UTF8.self)
                buffered.removeSubrange(buffered.startIndex...newline)
                return line
            }
            var descriptor = pollfd(fd: output.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard Date() < deadline, poll(&descriptor, 1, 100) >= 0 else { return nil }
            if descriptor.revents != 0 {
                let chunk = output.availableData
                if chunk.isEmpty { return nil }
                buffered.append(chunk)
            }
        }
    }
}
