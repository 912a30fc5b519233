import Foundation
import TestSupport

/// Debian's `protoc`, used as an independent encoder: it turns a message in protobuf text format into its binary
/// encoding with Google's own implementation, from the same `Protos/groupcache.proto` our C code comes from.
enum Protoc {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The repository root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Returns protoc's binary encoding of `text`, a `swiftgroupcache.wire.<message>` in text format.
    static func encode(_ message: String, _ text: String) async throws -> [UInt8] {
        try await offThePool { try encodeBlocking(message, text) }
    }

    private static func encodeBlocking(_ message: String, _ text: String) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "protoc", "--proto_path=\(root.appendingPathComponent("Protos").path)",
            "--encode=swiftgroupcache.wire.\(message)", "groupcache.proto",
        ]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run protoc (install protobuf-compiler; tools/test does): \(error)")
        }
        // Write on a thread of its own: protoc may fill its output pipe before it has read all of a large input.
        let writer = Thread {
            input.fileHandleForWriting.write(Data(text.utf8))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let encoded = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "protoc exited \(process.terminationStatus): \(String(decoding: message, as: UTF8.self))")
        }
        return [UInt8](encoded)
    }

    /// `bytes` as a text-format string literal: printable ASCII as it is, every other byte as a 3-digit octal
    /// escape (unambiguous whatever follows it).
    static func literal(_ bytes: [UInt8]) -> String {
        var text = "\""
        text.reserveCapacity(bytes.count + 2)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "'"):
                text += "\\" + String(UnicodeScalar(byte))
            case 0x20..<0x7f:
                text.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let octal = String(byte, radix: 8)
                text += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return text + "\""
    }
}
