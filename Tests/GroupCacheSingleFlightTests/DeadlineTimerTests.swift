import GroupCacheSingleFlight
import TestSupport
import Testing
import GroupCacheLock

@Suite struct DeadlineTimerTests {
    @Test func actionsRunInDeadlineOrderAndCancelledOnesNever() async {
        let timers = DeadlineTimer()
        let ran = Lock<[Int]>([])
        let done = Gate()
        let start = ContinuousClock.now
        for (index, offset) in [30, 10, 20].enumerated() {
            timers.schedule(at: start + .milliseconds(offset)) { ran.withLock { $0.append(index) } }
        }
        let cancelled = timers.schedule(at: start + .milliseconds(15)) { ran.withLock { $0.append(99) } }
        timers.cancel(cancelled)
        timers.schedule(at: start + .milliseconds(40)) { done.open() }
        await done.wait()
        #expect(ran.withLock { $0 } == [1, 2, 0])
        #expect(ContinuousClock.now - start >= .milliseconds(40))
        #expect(timers.count == 0)
    }

    @Test func aPastDeadlineRunsAtOnce() async {
        let timers = DeadlineTimer()
        let done = Gate()
        timers.schedule(at: .now - .seconds(1)) { done.open() }
        await done.wait()
        #expect(done.isOpen)
    }

    @Test func cancellingManyKeepsOnlyTheLiveOnes() async {
        let timers = DeadlineTimer()
        let far = ContinuousClock.now + .seconds(3600)
        let tokens = (0..<10_000).map { _ in timers.schedule(at: far) {} }
        for token in tokens.dropFirst() { timers.cancel(token) }
        #expect(timers.count == 1)
        // An earlier deadline still fires although the heap was rebuilt around the survivor.
        let done = Gate()
        timers.schedule(at: .now + .milliseconds(5)) { done.open() }
        await done.wait()
        #expect(timers.count == 1)
        timers.cancel(tokens[0])
        #expect(timers.count == 0)
    }

    @Test func aRepeatingActionRunsUntilCancelled() async {
        let timers = DeadlineTimer()
        let runs = Counter()
        let thirdRun = Gate()
        let start = ContinuousClock.now
        let token = timers.schedule(every: .milliseconds(5)) {
            runs.increment()
            if runs.value == 3 { thirdRun.open() }
        }
        await thirdRun.wait()
        #expect(ContinuousClock.now - start >= .milliseconds(15))
        #expect(timers.count == 1)
        timers.cancel(token)
        let afterCancel = runs.value
        // A one-shot action due later than the next repeat would have been: once it ran, the repeat is gone.
        let later = Gate()
        timers.schedule(at: .now + .milliseconds(20)) { later.open() }
        await later.wait()
        #expect(runs.value <= afterCancel + 1)
        #expect(timers.count == 0)
    }
}
