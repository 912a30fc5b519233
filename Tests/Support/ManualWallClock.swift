public import GroupCache
import GroupCacheLock

/// A wall clock that moves only when a test moves it.
public final class ManualWallClock: WallClock {
    private let nanoseconds: Lock<Int64>

    /// Creates a clock showing `start` nanoseconds since 1970.
    public init(_ start: Int64 = 1_700_000_000_000_000_000) {
        nanoseconds = Lock(start)
    }

    /// The time the test has set.
    public func now() -> Int64 { nanoseconds.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds.withLock { $0 += seconds * 1_000_000_000 + attoseconds / 1_000_000_000 }
    }
}
