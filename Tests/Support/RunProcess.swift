import Foundation

/// What a finished program said.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var output: String
    public var errors: String
}

/// Runs `command` (its executable's path first) to its end, blocking the calling thread, and returns its exit
/// status and what it wrote to standard output and standard error.
public func runToEnd(_ command: [String]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), errors: String(decoding: err, as: UTF8.self))
}
