// The node's sample database: SQLite through CSQLite. This is the only file of the node that calls C; every
// handle stays behind one lock.

import CSQLite
import Foundation
import GroupCacheLock

/// A SQLite file of products that the node creates and fills with sample rows when it is absent or empty, and
/// that its loader reads one row at a time.
///
/// Concurrency: every method may be called from any thread; one connection serves them in turn, behind a lock.
final class ProductDatabase: Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The connection, in a box the lock owns. `@unchecked Sendable`: the pointers are only used under `lock`.
    private struct Connection: @unchecked Sendable {
        var database: OpaquePointer?
        var lookup: OpaquePointer?
    }

    /// How many sample products a new database holds: product:1 to product:N.
    static let sampleCount = 10_000

    let path: String
    private let lock: Lock<Connection>

    /// Opens the database at `path`, creating and filling it if needed.
    init(path: String) throws {
        self.path = path
        var database: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &database, flags, nil) == SQLITE_OK, let database else {
            let message = database.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(database)
            throw Failure(description: "cannot open \(path): \(message)")
        }
        do {
            try Self.execute(database, "PRAGMA journal_mode = WAL")
            try Self.execute(
                database, "CREATE TABLE IF NOT EXISTS products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL)")
            if try Self.count(database) == 0 { try Self.fill(database) }
            var lookup: OpaquePointer?
            guard sqlite3_prepare_v2(database, "SELECT name, price_cents FROM products WHERE id = ?", -1, &lookup, nil) == SQLITE_OK
            else { throw Failure(description: String(cString: sqlite3_errmsg(database))) }
            lock = Lock(Connection(database: database, lookup: lookup))
        } catch {
            sqlite3_close(database)
            throw error
        }
    }

    deinit {
        lock.withLock { connection in
            sqlite3_finalize(connection.lookup)
            sqlite3_close(connection.database)
        }
    }

    /// Returns the product `id` as JSON, or `nil` if there is no such row.
    func product(id: String) throws -> String? {
        try lock.withLock { connection -> String? in
            guard let lookup = connection.lookup else { throw Failure(description: "the database is closed") }
            defer { sqlite3_reset(lookup) }
            let bytes = Array(id.utf8)
            let bound = bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { gc_sqlite_bind_text(lookup, 1, $0.baseAddress, Int32($0.count)) }
            }
            guard bound == SQLITE_OK else { throw Failure(description: String(cString: sqlite3_errmsg(connection.database))) }
            switch sqlite3_step(lookup) {
            case SQLITE_ROW:
                let name = String(cString: sqlite3_column_text(lookup, 0))
                let price = sqlite3_column_int64(lookup, 1)
                return #"{"id":\#(Self.quoted(id)),"name":\#(Self.quoted(name)),"priceCents":\#(price)}"#
            case SQLITE_DONE:
                return nil
            default:
                throw Failure(description: String(cString: sqlite3_errmsg(connection.database)))
            }
        }
    }

    private static func execute(_ database: OpaquePointer, _ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(database, sql, nil, nil, &message) == SQLITE_OK else {
            defer { sqlite3_free(message) }
            throw Failure(description: message.map { String(cString: $0) } ?? "\(sql) failed")
        }
    }

    private static func count(_ database: OpaquePointer) throws -> Int {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(database, "SELECT count(*) FROM products", -1, &statement, nil) == SQLITE_OK else {
            throw Failure(description: String(cString: sqlite3_errmsg(database)))
        }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw Failure(description: String(cString: sqlite3_errmsg(database))) }
        return Int(sqlite3_column_int64(statement, 0))
    }

    /// Inserts the sample products in one transaction.
    private static func fill(_ database: OpaquePointer) throws {
        var values: [String] = []
        values.reserveCapacity(sampleCount)
        for number in 1...sampleCount {
            let price = 100 + (number * 7_919) % 99_900
            values.append("('product:\(number)', 'Product \(number)', \(price))")
        }
        try execute(database, "BEGIN; INSERT INTO products VALUES " + values.joined(separator: ",") + "; COMMIT")
    }

    private static func quoted(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20: quoted += String(format: "\\u%04x", scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
