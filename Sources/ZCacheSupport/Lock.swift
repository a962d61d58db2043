// The one lock type of the project.
//
// Every lock in ZBud, TMem, SwapDevice and ZCache is a `Lock`. It wraps a
// `pthread_mutex_t` (as SwiftNIO's `NIOLock` does) rather than
// `Synchronization.Mutex`, because on Swift 6.3 / Linux the thread sanitizer
// does not intercept Mutex's futex path and reports false races under it; it
// does understand pthread mutexes. `Atomic` is fine for counters and flags.
//
// The lock order of the whole project is written down once, in
// `Sources/ZCache/ZCache.swift`; each module's header repeats its own part.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A mutual-exclusion lock over `pthread_mutex_t`. Not recursive.
///
/// The lock types here and `WaitQueue` are `public` classes with `package`
/// members: Swift 6.3 does not inline an `@inlinable` method of a `package`
/// class into another module, and every lock and unlock would be a call.
/// ZCacheSupport is no product, so nothing outside the package sees them.
public final class Lock: @unchecked Sendable {
    /// Internal so that `LockCondition` can wait on it; usable from inlined
    /// code so that `lock`, `unlock` and `withLock` inline into their callers
    /// in other modules (no call, and no closure context for `withLock`).
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    package init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if ZCACHE_INTERNAL_CHECKS
            // Checked builds catch relocking and unlocking by a non-owner.
            pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        let rc = pthread_mutex_init(mutex, &attributes)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable @inline(__always)
    package func lock() {
        let rc = pthread_mutex_lock(mutex)
        assert(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    @inlinable @inline(__always)
    package func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        assert(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    /// Runs `body` with the lock held.
    @inlinable @inline(__always)
    package func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable bound to a `Lock` (`pthread_cond_t`, which the thread
/// sanitizer understands). Wait with the lock held; wake-ups may be spurious,
/// so callers wait in a loop on their predicate.
public final class LockCondition: @unchecked Sendable {
    private let lock: Lock
    @usableFromInline let condition: UnsafeMutablePointer<pthread_cond_t>

    package init(_ lock: Lock) {
        self.lock = lock
        condition = .allocate(capacity: 1)
        let rc = pthread_cond_init(condition, nil)
        precondition(rc == 0, "pthread_cond_init failed: \(rc)")
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Releases the lock, waits for a signal, and takes the lock again.
    @inline(__always)
    package func wait() {
        let rc = pthread_cond_wait(condition, lock.mutex)
        assert(rc == 0, "pthread_cond_wait failed: \(rc)")
    }

    /// Wakes one waiter.
    @inlinable @inline(__always)
    package func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    @inlinable @inline(__always)
    package func broadcast() { pthread_cond_broadcast(condition) }
}

/// A value guarded by its own `Lock`.
public final class LockedValue<Value>: @unchecked Sendable {
    @usableFromInline let lock = Lock()
    @usableFromInline var value: Value

    package init(_ value: Value) { self.value = value }

    @inlinable @inline(__always)
    package func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
