// The project's one way to wait for a state another thread changes.
//
//   waiter                                 waker
//   ------                                 -----
//   queue.wait(while: busy)                change the state (any atomic or
//     if !busy(): return                     locked value)
//     lock                                 queue.wake()
//     waiters += 1; fence                    fence
//     while busy() { sleep on condition }    if waiters > 0: lock, broadcast
//     waiters -= 1                             (else nobody to wake)
//     unlock
//
// A waiter sleeps; the party that changes the state wakes it. Nothing polls,
// yields or sleeps for a fixed time. The waker skips the lock when nobody
// waits, so a wake costs a fence and one atomic load on the fast path. That
// skip is safe because a sequentially consistent fence separates, on each
// side, the write of one variable from the read of the other (the waiter
// counts itself, then evaluates `busy`; the waker changes the state, then
// reads the count): either the waker sees the waiter (and broadcasts under
// the lock, which a sleeping waiter has released), or the waiter's `busy`
// sees the new state. The state may be any atomic or locked value.
// `wakeAfterSequentiallyConsistentChange` is the same wake without the fence,
// for a state that is one atomic changed by a sequentially consistent
// read-modify-write: that operation takes the fence's place on the waker's side.
//
// `busy` runs once without the queue's lock (when it says "not busy" the wait
// is over at once) and then with the lock held: it may take other locks (the
// queue's lock comes first), but must not wait.

import Synchronization

/// A condition variable with its lock and a count of waiters: sleep until a
/// predicate turns false, woken by whoever changes what it reads.
public final class WaitQueue: @unchecked Sendable {
    @usableFromInline let lock = Lock()
    @usableFromInline let condition: LockCondition
    @usableFromInline let waiters = Atomic<Int>(0)

    package init() {
        condition = LockCondition(lock)
    }

    /// Returns once `busy()` is false, sleeping between `wake` calls. Wake-ups
    /// may be shared with other states (a hashed table) or spurious: `busy`
    /// is evaluated again after each.
    package func wait(while busy: () -> Bool) {
        // Not busy now: nothing to wait for, and no need for the lock.
        if !busy() { return }
        lock.lock()
        waiters.add(1, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        while busy() { condition.wait() }
        waiters.subtract(1, ordering: .relaxed)
        lock.unlock()
    }

    /// Wakes every waiter; call after changing the state they wait on.
    /// Inlinable: the fast path (nobody waits) inlines into the caller.
    @inlinable @inline(__always)
    package func wake() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        guard waiters.load(ordering: .relaxed) > 0 else { return }
        wakeWaiters()
    }

    /// `wake` for a state that is one atomic, changed just before by a
    /// sequentially consistent read-modify-write (a compare-and-swap with
    /// `.sequentiallyConsistent` ordering) that `busy` reads. That change and
    /// this sequentially consistent load of the count are in the single total
    /// order with the waiter's fence, as `wake`'s fence would put them: either
    /// the load follows the fence and sees the waiter, or the change precedes
    /// it and the waiter's `busy` sees the change. So no fence is needed (on
    /// x86 the locked instruction of the change is a full barrier already).
    @inlinable @inline(__always)
    package func wakeAfterSequentiallyConsistentChange() {
        guard waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        wakeWaiters()
    }

    /// The slow path of a wake: broadcasts under the lock, which a sleeping
    /// waiter has released.
    @inlinable
    package func wakeWaiters() {
        lock.lock()
        condition.broadcast()
        lock.unlock()
    }
}
