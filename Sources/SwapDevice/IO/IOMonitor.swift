// A lock with condition variables, for the I/O queue's waits: the project's one
// `Lock` plus a `LockCondition` per thing the queue waits for. It guards only the
// I/O queue's own fields.

import ZCacheSupport

final class IOMonitor: @unchecked Sendable {
    /// The conditions the I/O queue waits for.
    enum Condition: Int, CaseIterable {
        /// A request was queued, or the queue is closing (workers wait).
        case notEmpty
        /// A queue slot came free, or the queue is closing (submitters wait).
        case notFull
        /// Nothing is in flight any more (`drain` waits).
        case drained
        /// A worker exited, the file was closed, or a caller's fsync or read
        /// ended (`close` and the last worker wait).
        case workerExited
    }

    private let mutex: Lock
    private let conditions: [LockCondition]

    init() {
        let mutex = Lock()
        self.mutex = mutex
        conditions = Condition.allCases.map { _ in LockCondition(mutex) }
    }

    @inline(__always) func lock() { mutex.lock() }

    @inline(__always) func unlock() { mutex.unlock() }

    /// Waits for `condition`; the monitor must be locked, and is again on return.
    /// Wake-ups may be spurious: callers wait in a loop on their predicate.
    @inline(__always) func wait(_ condition: Condition) { conditions[condition.rawValue].wait() }

    @inline(__always) func signal(_ condition: Condition) {
        conditions[condition.rawValue].signal()
    }

    @inline(__always) func broadcast(_ condition: Condition) {
        conditions[condition.rawValue].broadcast()
    }
}
