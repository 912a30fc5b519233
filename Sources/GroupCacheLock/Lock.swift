#if GROUPCACHE_TSAN
#if canImport(Glibc)
import Glibc
#endif

/// A value behind a lock: the project's one lock type.
///
/// This build (`-DGROUPCACHE_TSAN`, which `tools/tsan` sets) sits on `pthread_mutex_t`, which ThreadSanitizer
/// sees: on Linux it cannot see `Synchronization.Mutex` (a futex it does not know), and reports every access
/// under one as a race. Every other build uses `Synchronization.Mutex` itself.
public final class Lock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock guarding `value`.
    public init(_ value: sending Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
#else
public import Synchronization

/// A value behind a lock: the project's one lock type, `Synchronization.Mutex` in this build.
///
/// ThreadSanitizer cannot see `Synchronization.Mutex` on Linux (a futex it does not know) and reports every
/// access under one as a race; built with `-DGROUPCACHE_TSAN` (`tools/tsan`), this type sits on
/// `pthread_mutex_t` instead, which it sees.
@frozen
public struct Lock<Value: ~Copyable>: ~Copyable {
    @usableFromInline let mutex: Mutex<Value>

    /// A lock guarding `value`.
    @inlinable
    public init(_ value: consuming sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with the value, holding the lock.
    @inlinable @inline(__always)
    public borrowing func withLock<Result: ~Copyable, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        try mutex.withLock(body)
    }
}

extension Lock: @unchecked Sendable where Value: ~Copyable {}
#endif
