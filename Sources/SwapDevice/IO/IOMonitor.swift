// A mutex with condition variables, for the I/O queue's waits.
//
// ZCacheSupport's `Lock` keeps its mutex private, and a condition variable must
// wait on the mutex that guards the state, so the queue gets this small monitor
// on the same primitives (pthread_mutex_t + pthread_cond_t, which the thread
// sanitizer understands). It guards only the I/O queue's own fields.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

final class IOMonitor: @unchecked Sendable {
    /// The conditions the I/O queue waits for.
    enum Condition: Int, CaseIterable {
        /// A request was queued, or the queue is closing (workers wait).
        case notEmpty
        /// A queue slot came free, or the queue is closing (submitters wait).
        case notFull
        /// Nothing is in flight any more (`drain` waits).
        case drained
        /// A worker thread exited (`close` waits).
        case workerExited
    }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        #if ZCACHE_INTERNAL_CHECKS
            pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        let rc = pthread_mutex_init(mutex, &attributes)
        precondition(rc == 0, "pthread_mutex_init failed: \(rc)")
        pthread_mutexattr_destroy(&attributes)
        conditions = .allocate(capacity: Condition.allCases.count)
        for index in Condition.allCases.indices {
            let rc = pthread_cond_init(conditions + index, nil)
            precondition(rc == 0, "pthread_cond_init failed: \(rc)")
        }
    }

    deinit {
        for index in Condition.allCases.indices { pthread_cond_destroy(conditions + index) }
        conditions.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) func lock() {
        let rc = pthread_mutex_lock(mutex)
        assert(rc == 0, "pthread_mutex_lock failed: \(rc)")
    }

    @inline(__always) func unlock() {
        let rc = pthread_mutex_unlock(mutex)
        assert(rc == 0, "pthread_mutex_unlock failed: \(rc)")
    }

    /// Waits for `condition`; the monitor must be locked, and is again on return.
    /// Wake-ups may be spurious: callers wait in a loop on their predicate.
    @inline(__always) func wait(_ condition: Condition) {
        let rc = pthread_cond_wait(conditions + condition.rawValue, mutex)
        assert(rc == 0, "pthread_cond_wait failed: \(rc)")
    }

    @inline(__always) func signal(_ condition: Condition) {
        pthread_cond_signal(conditions + condition.rawValue)
    }

    @inline(__always) func broadcast(_ condition: Condition) {
        pthread_cond_broadcast(conditions + condition.rawValue)
    }
}
