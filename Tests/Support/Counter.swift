import Synchronization

/// A count that closures on any thread can share.
public final class Counter: Sendable {
    private let count = Atomic(0)

    /// A count of zero.
    public init() {}

    /// Adds one.
    public func increment() { count.add(1, ordering: .relaxed) }

    /// The count.
    public var value: Int { count.load(ordering: .relaxed) }
}
