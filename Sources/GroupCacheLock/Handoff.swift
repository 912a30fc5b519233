/// Tells ThreadSanitizer of a hand-off it cannot see: a value passed from a thread of ours (a connection's
/// reader, a Dispatch worker) to a task through a continuation. On Linux the concurrency runtime enqueues the
/// resumed task through a libdispatch entry point TSan does not intercept, so it sees no order between what the
/// resuming thread wrote and what the task then reads. `release(_:)` before the resume and `acquire(_:)` after
/// the await, on the same object, give it that order. Both do nothing outside the TSan build (tools/tsan).
public enum Handoff {
    #if GROUPCACHE_TSAN
    /// Marks what this thread wrote so far as published through `object`.
    public static func release(_ object: AnyObject) {
        tsanRelease(UnsafeMutableRawPointer(Unmanaged.passUnretained(object).toOpaque()))
    }

    /// Marks what was published through `object` as seen by this thread.
    public static func acquire(_ object: AnyObject) {
        tsanAcquire(UnsafeMutableRawPointer(Unmanaged.passUnretained(object).toOpaque()))
    }
    #else
    /// Marks what this thread wrote so far as published through `object` (TSan build only).
    @inlinable @inline(__always)
    public static func release(_ object: AnyObject) {}

    /// Marks what was published through `object` as seen by this thread (TSan build only).
    @inlinable @inline(__always)
    public static func acquire(_ object: AnyObject) {}
    #endif
}

#if GROUPCACHE_TSAN
@_silgen_name("__tsan_release")
private func tsanRelease(_ address: UnsafeMutableRawPointer)

@_silgen_name("__tsan_acquire")
private func tsanAcquire(_ address: UnsafeMutableRawPointer)
#endif
