import Foundation
import BenchSupport

/// Minimal hand-written clients for the systems we compare with, over the shared ``BlockingConnection``. Each
/// request is prepared once and each reply is checked for the value's size, so that a broken exchange fails the
/// run rather than timing an error.
enum Memcached {
    /// memcached's text protocol: `set`, answered `STORED`.
    static func set(_ connection: BlockingConnection, key: String, value: [UInt8]) throws {
        try connection.send(Array("set \(key) 0 0 \(value.count)\r\n".utf8) + value + Array("\r\n".utf8))
        let answer = try connection.readLine()
        guard answer == "STORED" else { throw BlockingConnection.Failure("memcached answered set with \(answer)") }
    }

    /// `get key\r\n`, whose answer is `VALUE key flags bytes`, the value, then `END`.
    static func getRequest(key: String) -> [UInt8] { Array("get \(key)\r\n".utf8) }

    static func get(_ connection: BlockingConnection, request: [UInt8], valueBytes: Int) throws {
        try connection.send(request)
        let header = try connection.readLine()
        guard header.hasPrefix("VALUE "), Int(header.split(separator: " ").last ?? "") == valueBytes else {
            throw BlockingConnection.Failure("memcached answered get with \(header.prefix(80))")
        }
        try connection.skip(valueBytes + 2)
        let end = try connection.readLine()
        guard end == "END" else { throw BlockingConnection.Failure("memcached ended a get with \(end.prefix(80))") }
    }
}

enum Redis {
    private static func command(_ parts: [[UInt8]]) -> [UInt8] {
        var bytes = Array("*\(parts.count)\r\n".utf8)
        for part in parts { bytes += Array("$\(part.count)\r\n".utf8) + part + Array("\r\n".utf8) }
        return bytes
    }

    /// RESP `SET key value`, answered `+OK`.
    static func set(_ connection: BlockingConnection, key: String, value: [UInt8]) throws {
        try connection.send(command([Array("SET".utf8), Array(key.utf8), value]))
        let answer = try connection.readLine()
        guard answer == "+OK" else { throw BlockingConnection.Failure("Redis answered SET with \(answer)") }
    }

    /// RESP `GET key`, answered with a bulk string.
    static func getRequest(key: String) -> [UInt8] { command([Array("GET".utf8), Array(key.utf8)]) }

    static func get(_ connection: BlockingConnection, request: [UInt8], valueBytes: Int) throws {
        try connection.send(request)
        let header = try connection.readLine()
        guard header == "$\(valueBytes)" else { throw BlockingConnection.Failure("Redis answered GET with \(header.prefix(80))") }
        try connection.skip(valueBytes + 2)
    }
}

/// golang/groupcache's own peer protocol: HTTP/1.1 GET of /_groupcache/<group>/<key>, answered with a
/// protobuf GetResponse, on a keep-alive connection.
enum GoGroupcacheHTTP {
    static func getRequest(group: String, key: String) -> [UInt8] {
        Array("GET /_groupcache/\(group)/\(key) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    }

    static func get(_ connection: BlockingConnection, request: [UInt8], valueBytes: Int) throws {
        try connection.send(request)
        let status = try connection.readLine()
        guard status.hasPrefix("HTTP/1.1 200") else { throw BlockingConnection.Failure("Go answered \(status.prefix(80))") }
        var length: Int?
        var chunked = false
        while true {
            let header = try connection.readLine().lowercased()
            if header.isEmpty { break }
            if header.hasPrefix("content-length:") {
                length = Int(header.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            } else if header.hasPrefix("transfer-encoding:") && header.contains("chunked") {
                chunked = true
            }
        }
        // Go's server sends a body over 2 KiB in chunks, since groupcache sets no Content-Length.
        if chunked { length = try skipChunks(connection) }
        // A GetResponse holding the value: field 1's tag and length, then the value.
        guard let length, length >= valueBytes + 2 else {
            throw BlockingConnection.Failure("Go answered \(length.map(String.init) ?? "no length") bytes for a \(valueBytes)-byte value")
        }
        if !chunked { try connection.skip(length) }
    }

    /// Reads a chunked body and returns its length.
    private static func skipChunks(_ connection: BlockingConnection) throws -> Int {
        var total = 0
        while true {
            let line = try connection.readLine()
            guard let size = Int(line.split(separator: ";").first ?? "", radix: 16) else {
                throw BlockingConnection.Failure("Go sent a bad chunk size: \(line.prefix(40))")
            }
            if size == 0 {
                while try !connection.readLine().isEmpty {}
                return total
            }
            try connection.skip(size + 2)
            total += size
        }
    }
}
