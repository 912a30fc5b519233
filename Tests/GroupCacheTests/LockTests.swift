import Foundation
import GroupCacheLock
import Testing

/// The project's lock, and ThreadSanitizer's view of it (tools/tsan runs these in the TSan build).
@Suite struct LockTests {
    /// Four threads adding under one lock: the count is exact, and TSan, which sees this build's lock, reports
    /// nothing.
    @Test func fourThreadsUnderOneLockCountExactly() {
        final class Counts: Sendable { let lock = Lock([Int: Int]()) }
        let counts = Counts()
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            Thread {
                for step in 0..<10_000 { counts.lock.withLock { $0[step % 16, default: 0] += 1 } }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(counts.lock.withLock { $0.values.reduce(0, +) } == 40_000)
    }

    /// The same four threads without the lock: a race that tools/tsan must see reported, so that a clean run
    /// means something. Runs only when GROUPCACHE_TSAN_PLANTED=1.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GROUPCACHE_TSAN_PLANTED"] == "1"))
    func aPlantedRace() {
        final class Unguarded: @unchecked Sendable { var count = 0 }
        let shared = Unguarded()
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            Thread {
                for _ in 0..<10_000 { shared.count += 1 }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(shared.count <= 40_000)
    }
}
