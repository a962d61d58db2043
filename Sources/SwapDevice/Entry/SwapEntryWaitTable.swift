// Waiting for a busy swap entry: the kernel's page wait table
// (`page_waitqueue`, `wait_on_page_bit`, and the retry after
// `swapcache_prepare` returns -EEXIST), as a small hashed table.
//
//   entry (type, offset) --hash--> buckets[0 ..< 64]: WaitQueue
//                                  (a Lock, a LockCondition, a waiter count)
//
// An entry is busy while someone else holds its has-cache bit, its swap-cache
// page is locked, or its page is under writeback. A waiter sleeps in the
// entry's bucket until its predicate says the entry is free; every change that
// can end a busy state wakes the bucket:
//
//   SwapSlotMap.swapcacheFree      the has-cache bit is cleared
//   SwapCachePage.unlock           the page lock is released
//   SwapDevice.submitWriteback     the write completed (writeback cleared)
//
// Entries that share a bucket wake each other's waiters; those look again
// and go back to sleep. A wake with nobody waiting in the bucket costs one
// atomic load.

import ZCacheSupport

/// Sleeping until a swap entry is no longer busy (see the file's opening comment).
public enum SwapEntryWaitTable {
    private static let bucketCount = 64
    private static let table = Buckets(count: bucketCount)

    /// The queues, created once and never freed. Held as `Unmanaged` so that
    /// a wake borrows its queue instead of retaining and releasing it (a wake
    /// ends every swap-in).
    private final class Buckets: Sendable {
        private let queues: [Unmanaged<WaitQueue>]

        init(count: Int) {
            queues = (0..<count).map { _ in Unmanaged.passRetained(WaitQueue()) }
        }

        @inline(__always)
        subscript(index: Int) -> Unmanaged<WaitQueue> { queues[index] }
    }

    @inline(__always)
    private static func bucket(_ entry: SwapEntry) -> Unmanaged<WaitQueue> {
        // Neighbouring slots land in different buckets; the type mixes in so
        // that the same slot of two devices does not always collide.
        let mixed = (entry.offset &+ UInt64(entry.type) &* 0x9E37_79B9) & UInt64(bucketCount - 1)
        return table[Int(mixed)]
    }

    /// Returns once `busy()` is false, sleeping until a change to `entry`
    /// wakes it. `busy` runs first without and then under the bucket's lock;
    /// it may take a swap-cache shard's lock, but must not wait.
    public static func wait(on entry: SwapEntry, while busy: () -> Bool) {
        bucket(entry)._withUnsafeGuaranteedRef { $0.wait(while: busy) }
    }

    /// Wakes the waiters of `entry` (and of the entries sharing its bucket).
    @inline(__always)
    public static func wake(_ entry: SwapEntry) {
        bucket(entry)._withUnsafeGuaranteedRef { $0.wake() }
    }

    /// `wake` after a change to the entry's slot state, which is an atomic
    /// changed by a sequentially consistent compare-and-swap and read by the
    /// waiters' predicates (`WaitQueue.wakeAfterSequentiallyConsistentChange`).
    @inline(__always)
    static func wakeAfterSlotChange(_ entry: SwapEntry) {
        bucket(entry)._withUnsafeGuaranteedRef { $0.wakeAfterSequentiallyConsistentChange() }
    }
}
