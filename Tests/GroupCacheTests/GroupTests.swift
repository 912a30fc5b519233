import Foundation
@_spi(Transport) @testable import GroupCache
import Synchronization
import TestSupport
import Testing
import GroupCacheLock

/// A loader's backing store that counts its loads and can hold them open.
final class Source: Sendable {
    let loads = Atomic(0)
    let gate: Gate?
    let versions = Lock<[CacheKey: Int]>([:])

    init(gate: Gate? = nil) { self.gate = gate }

    func bump(_ key: CacheKey) { versions.withLock { $0[key, default: 0] += 1 } }

    /// Serves "<key>@v<version>", reading the version before it waits at the gate, as a slow query would.
    var loader: Loader {
        { key, _ in
            self.loads.add(1, ordering: .relaxed)
            let version = self.versions.withLock { $0[key, default: 0] }
            await self.gate?.wait()
            if key.description.hasPrefix("missing") { throw GroupCacheError.notFound(key) }
            return CacheValue("\(key)@v\(version)")
        }
    }

    var loadCount: Int { loads.load(ordering: .relaxed) }
}

@Suite struct GroupTests {
    @Test func aValueOverMaxValueBytesIsRefusedAtLoadAndAtSetAndCachedNowhere() async throws {
        let loads = Atomic(0)
        let group = try GroupRegistry().makeGroup(
            name: "g", cacheBytes: 1 << 20, options: GroupOptions(maxValueBytes: 1000)
        ) { key, _ in
            loads.add(1, ordering: .relaxed)
            return CacheValue([UInt8](repeating: 1, count: key.description == "big" ? 1001 : 1000))
        }
        for attempt in 1...2 {
            await #expect(throws: GroupCacheError.self, "attempt \(attempt)") {
                do { _ = try await group.get("big") } catch let error as GroupCacheError {
                    #expect(error.code == .tooLarge && error.message.contains("1001 bytes"), "got \(error)")
                    throw error
                }
            }
        }
        #expect(loads.load(ordering: .relaxed) == 2, "a refused value was cached")
        #expect(try await group.get("fits").bytes.count == 1000)
        await #expect(throws: GroupCacheError.self) { try await group.set("k", to: CacheValue([UInt8](repeating: 0, count: 1001))) }
        #expect(group.stats.mainCache.items == 1)
        #expect(group.stats.localLoadErrs == 2)
    }

    /// A loader that hangs past the load timeout: its callers get deadlineExceeded, its task is cancelled, the key
    /// is free for a new load at once, and its late value is cached nowhere. The timeout is generous because the
    /// second, instant load must also start within it while other suites load the machine.
    @Test func aLoadPastTheLoadTimeoutFailsItsCallersAndCachesNothing() async throws {
        let release = Gate(), cancelled = Gate(), returned = Gate()
        let loads = Atomic(0)
        let group = try GroupRegistry().makeGroup(
            name: "g", cacheBytes: 1 << 20, options: GroupOptions(loadTimeout: .milliseconds(300))
        ) { key, _ in
            guard loads.add(1, ordering: .relaxed).newValue == 1 else { return CacheValue("fresh") }
            await withTaskCancellationHandler { await release.wait() } onCancel: { cancelled.open() }
            returned.open()
            return CacheValue("late")
        }
        let error = await #expect(throws: GroupCacheError.self) { try await group.get("k") }
        #expect(error?.code == .deadlineExceeded, "got \(String(describing: error))")
        #expect(error?.message.contains("load timeout") == true, "got \(String(describing: error))")
        await cancelled.wait()

        #expect(try await group.get("k").string == "fresh", "the timed-out load still held the key")
        release.open()
        await returned.wait()
        #expect(try await group.get("k").string == "fresh")
        #expect(loads.load(ordering: .relaxed) == 2)
    }

    @Test func aMissLoadsOnceAndThenHits() async throws {
        let source = Source()
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        #expect(try await group.get("a").string == "a@v0")
        #expect(try await group.get("a").string == "a@v0")
        #expect(source.loadCount == 1)
        let stats = group.stats
        #expect(stats.gets == 2 && stats.cacheHits == 1 && stats.loads == 1 && stats.localLoads == 1)
        #expect(stats.mainCache.items == 1 && stats.mainCache.bytes == 1 + 4 + CacheStats.entryOverheadBytes)
    }

    @Test func notFoundReachesTheCallerAndIsNotCached() async throws {
        let source = Source()
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        for _ in 0..<2 {
            await #expect {
                _ = try await group.get("missing-1")
            } throws: { ($0 as? GroupCacheError)?.code == .notFound }
        }
        #expect(source.loadCount == 2, "an error was cached")
        #expect(group.stats.localLoadErrs == 2)
    }

    @Test func aLoaderErrorReachesTheCallerAsItIs() async throws {
        struct DatabaseDown: Error {}
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20) { _, _ in throw DatabaseDown() }
        await #expect(throws: DatabaseDown.self) { _ = try await group.get("k") }
    }

    @Test func valuesExpireByTheInjectedClock() async throws {
        let clock = ManualWallClock()
        let source = Source()
        let group = try GroupRegistry(clock: clock).makeGroup(name: "g", cacheBytes: 1 << 20) { key, context in
            let value = try await source.loader(key, context)
            return CacheValue(value.bytes, expiryNanoseconds: clock.now() + 60_000_000_000)
        }
        _ = try await group.get("k")
        clock.advance(by: .seconds(59))
        _ = try await group.get("k")
        #expect(source.loadCount == 1)
        clock.advance(by: .seconds(1))
        _ = try await group.get("k")
        #expect(source.loadCount == 2, "an expired value was served")
        #expect(group.stats.mainCache.evictions == 1)
    }

    @Test func aValueLoadedAlreadyExpiredIsReturnedButNotCached() async throws {
        let clock = ManualWallClock()
        let loads = Atomic(0)
        let group = try GroupRegistry(clock: clock).makeGroup(name: "g", cacheBytes: 1 << 20) { _, _ in
            loads.add(1, ordering: .relaxed)
            return CacheValue("v", expiresAt: Date(timeIntervalSince1970: 1))
        }
        #expect(try await group.get("k").string == "v")
        _ = try await group.get("k")
        #expect(loads.load(ordering: .relaxed) == 2)
    }

    @Test func cancellingTheFirstCallerLeavesTheOthersWithTheValue() async throws {
        let gate = Gate()
        let source = Source(gate: gate)
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        let first = Task { try await group.get("k") }
        #expect(await eventually { source.loadCount == 1 })
        let others = (0..<5).map { _ in Task { try await group.get("k") } }
        #expect(await eventually { group.localFlights.waiterCount(for: "k") == 6 })

        first.cancel()
        await #expect(throws: CancellationError.self) { _ = try await first.value }
        gate.open()
        for other in others { #expect(try await other.value.string == "k@v0") }
        #expect(source.loadCount == 1)
        #expect(group.stats.mainCache.items == 1)
    }

    @Test func aGetPastItsDeadlineThrowsAndTheLoadIsStillCached() async throws {
        let gate = Gate()
        let source = Source(gate: gate)
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        await #expect {
            _ = try await group.get("k", timeout: .milliseconds(20))
        } throws: { ($0 as? GroupCacheError)?.code == .deadlineExceeded }
        gate.open()
        #expect(await eventually { group.stats.mainCache.items == 1 })
        #expect(try await group.get("k").string == "k@v0")
        #expect(source.loadCount == 1)
    }

    @Test func removeDetachesALoadInFlight() async throws {
        let gate = Gate()
        let slow = Source(gate: gate)
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20) { key, context in
            // Only the first load is slow.
            slow.loadCount == 0 ? try await slow.loader(key, context) : CacheValue("\(key)@fresh")
        }
        let old = Task { try await group.get("k") }
        #expect(await eventually { slow.loadCount == 1 })
        try await group.remove("k")
        #expect(try await group.get("k").string == "k@fresh")
        gate.open()
        #expect(try await old.value.string == "k@v0", "a waiter from before the remove gets the old load")
        #expect(try await group.get("k").string == "k@fresh", "the detached load was cached")
    }

    @Test func setReplacesTheValueAndDetachesALoad() async throws {
        let gate = Gate()
        let source = Source(gate: gate)
        let group = try GroupRegistry().makeGroup(name: "g", cacheBytes: 1 << 20, loader: source.loader)
        let old = Task { try await group.get("k") }
        #expect(await eventually { source.loadCount == 1 })
        try await group.set("k", to: CacheValue("written"))
        gate.open()
        _ = try await old.value
        #expect(try await group.get("k").string == "written")
    }

    @Test func registryRejectsADuplicateName() throws {
        let registry = GroupRegistry()
        try registry.makeGroup(name: "g", cacheBytes: 0) { _, _ in CacheValue("") }
        #expect { try registry.makeGroup(name: "g", cacheBytes: 0) { _, _ in CacheValue("") } } throws: {
            ($0 as? GroupCacheError)?.code == .duplicateGroup
        }
        #expect(registry.group(named: "g") != nil)
        #expect { try registry.requireGroup(named: "nope") } throws: { ($0 as? GroupCacheError)?.code == .noSuchGroup }
    }

    @Test func theLoaderSeesItsGroupAndOrigin() async throws {
        let seen = Lock<[String]>([])
        let group = try GroupRegistry().makeGroup(name: "users", cacheBytes: 0) { _, context in
            seen.withLock { $0.append("\(context.group.name) \(context.isPeerRequest)") }
            return CacheValue("")
        }
        _ = try await group.get("a")
        #expect(group.serveCachedGet("b") == nil)
        _ = try await group.serveLoad("b", deadline: .now + .seconds(1))
        #expect(seen.withLock { $0 } == ["users false", "users true"])
        #expect(group.stats.serverRequests == 1)
    }
}
