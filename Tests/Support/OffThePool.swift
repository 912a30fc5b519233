import Foundation

/// Runs `body`, which blocks (a child process, a pipe, a blocking socket), on a thread of its own and returns its
/// result.
///
/// Swift's cooperative pool has one thread per core, two here. A test that blocks one of them, while another test
/// blocks the other, stalls every task of the test process: replies sit unread and deadlines pass in tests that
/// have nothing to do with the blocking one. So no test blocks on the pool.
public func offThePool<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try body() }) }.start()
    }
}
