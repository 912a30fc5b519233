import Dispatch
import Foundation
import Histogram
import Synchronization

/// Latencies in nanoseconds, from 1 ns to 60 s at three significant digits (HdrHistogram).
struct Latencies: Sendable {
    var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        _ = histogram.record(UInt64(max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    mutating func add(_ other: Latencies) { histogram.add(other.histogram) }

    var count: Int { Int(histogram.totalCount) }

    /// The latency at `percentile` (0-100) in microseconds.
    func microseconds(at percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }

    /// (percentile, microseconds) pairs for a percentile plot, up to the largest value recorded.
    var percentileCurve: [(Double, Double)] {
        histogram.percentiles(ticksPerHalfDistance: 5).map { ($0.percentileLevelIteratedTo, Double($0.value) / 1000) }
    }
}

/// What one measurement gave: latencies and, for timed runs, requests per second.
struct Sample: Sendable {
    var latencies: Latencies
    var requestsPerSecond: Double?
    var contextSwitchesPerRequest: Double?
}

/// Runs `request` `count` times back to back on this thread (after `warmup` untimed runs).
func measureSequentially(count: Int, warmup: Int = 200, _ request: () throws -> Void) rethrows -> Sample {
    for _ in 0..<warmup { try request() }
    var latencies = Latencies()
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        try request()
        latencies.record(clock.now - start)
    }
    return Sample(latencies: latencies)
}

/// The async form of ``measureSequentially(count:warmup:_:)``.
func measureSequentially(count: Int, warmup: Int = 200, _ request: () async throws -> Void) async rethrows -> Sample {
    for _ in 0..<warmup { try await request() }
    var latencies = Latencies()
    let clock = ContinuousClock()
    for _ in 0..<count {
        let start = clock.now
        try await request()
        latencies.record(clock.now - start)
    }
    return Sample(latencies: latencies)
}

/// `callers` threads, each with the state `setUp` makes (a blocking connection), running `request` back to back
/// for `seconds`.
func measureThreads<State>(
    callers: Int, seconds: Double, setUp: @escaping @Sendable (Int) throws -> State,
    request: @escaping @Sendable (State) throws -> Void
) throws -> Sample {
    try measureRounds(callers: callers, seconds: seconds, setUp: setUp) { state, latencies in
        let start = ContinuousClock.now
        try request(state)
        latencies.record(ContinuousClock.now - start)
    }
}

/// `callers` threads, each with the state `setUp` makes, running `round` back to back for `seconds`; each round
/// records the latencies of the requests it made (one, or a pipelined batch).
func measureRounds<State>(
    callers: Int, seconds: Double, setUp: @escaping @Sendable (Int) throws -> State,
    round: @escaping @Sendable (State, inout Latencies) throws -> Void
) throws -> Sample {
    let results = Mutex<[Result<Latencies, any Error>]>([])
    let done = DispatchGroup()
    let clock = ContinuousClock()
    let started = clock.now
    let end = started + .milliseconds(Int(seconds * 1000))
    for index in 0..<callers {
        done.enter()
        Thread {
            let result = Result { () throws -> Latencies in
                let state = try setUp(index)
                var latencies = Latencies()
                while clock.now < end { try round(state, &latencies) }
                return latencies
            }
            results.withLock { $0.append(result) }
            done.leave()
        }.start()
    }
    done.wait()
    let elapsed = clock.now - started
    var all = Latencies()
    for result in results.withLock({ $0 }) { all.add(try result.get()) }
    return Sample(latencies: all, requestsPerSecond: Double(all.count) / elapsed.seconds)
}

/// `callers` tasks running `request(index)` back to back for `seconds`.
func measureTasks(
    callers: Int, seconds: Double, request: @escaping @Sendable (Int) async throws -> Void
) async throws -> Sample {
    let clock = ContinuousClock()
    let started = clock.now
    let end = started + .milliseconds(Int(seconds * 1000))
    let all = try await withThrowingTaskGroup(of: Latencies.self) { tasks in
        for index in 0..<callers {
            tasks.addTask {
                var latencies = Latencies()
                while clock.now < end {
                    let start = clock.now
                    try await request(index)
                    latencies.record(clock.now - start)
                }
                return latencies
            }
        }
        return try await tasks.reduce(into: Latencies()) { $0.add($1) }
    }
    return Sample(latencies: all, requestsPerSecond: Double(all.count) / (clock.now - started).seconds)
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
