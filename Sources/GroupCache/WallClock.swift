#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A source of wall-clock time, injected so that expiry can be tested without waiting.
///
/// Implementers: return the current time as nanoseconds since 1970-01-01 UTC; calls may come from any thread.
public protocol WallClock: Sendable {
    /// The current time in nanoseconds since 1970-01-01 UTC.
    func now() -> Int64
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    /// Creates the clock.
    public init() {}

    /// The current time in nanoseconds since 1970-01-01 UTC, from `CLOCK_REALTIME`.
    public func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}
