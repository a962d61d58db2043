import Synchronization
import ZBud

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where each bud is in its creation, so that a bud published to TMem but not
/// yet finished in zbud is never freed by someone else.
///
/// A put creates its bud busy in zbud (so it cannot be evicted), publishes the
/// handle with `tmem.put`, and then calls zbud's `finishCreate`. From the
/// publish on, another thread can get, flush or replace the key, releasing the
/// bud. Were that release to free the bud in zbud at once, the frame could be
/// freed and reused by a third put before the first put's `finishCreate`,
/// which would then end someone else's creation (or trap on a bud that is
/// gone). So, per bud (frame number * 2 + bud):
///
///     idle ──create──> creating ──finish──> finishing ──> idle
///                         │                  (releases wait)
///                         └──release──> released ──finish──> idle
///                                       (the creator frees it in zbud)
///
/// A release in `creating` adjusts the counters and leaves the zbud free to
/// the creator; a release in `finishing` waits the few instructions until the
/// creator's `finishCreate` is done. The waiting releaser holds a TMem bucket
/// lock; the creator holds none and takes only a zbud class lock, which no one
/// holds while waiting for a bucket lock, so the wait always ends.
final class BudCreateStates: @unchecked Sendable {
    static let idle: UInt8 = 0
    static let creating: UInt8 = 1
    static let released: UInt8 = 2
    static let finishing: UInt8 = 3

    private let states: UnsafeMutablePointer<Atomic<UInt8>>
    private let count: Int

    init(pageframes: Int) {
        count = max(1, pageframes * 2)
        states = .allocate(capacity: count)
        for index in 0..<count { (states + index).initialize(to: Atomic(Self.idle)) }
    }

    deinit {
        states.deinitialize(count: count)
        states.deallocate()
    }

    @inline(__always)
    private func slot(_ ref: ZBudRef) -> Int { Int(ref.rawValue) }

    /// The creator: the bud was just created (busy, unpublished).
    @inline(__always)
    func beginCreate(_ ref: ZBudRef) {
        states[slot(ref)].store(Self.creating, ordering: .releasing)
    }

    /// The creator, after `tmem.put` succeeded: runs `finish` (zbud's
    /// `finishCreate`) unless the bud was released meanwhile. Returns whether
    /// it was released meanwhile: then the creator must free it in zbud.
    @inline(__always)
    func finishCreate(_ ref: ZBudRef, _ finish: () -> Void) -> Bool {
        let index = slot(ref)
        let (exchanged, _) = states[index].compareExchange(
            expected: Self.creating, desired: Self.finishing, ordering: .acquiringAndReleasing)
        if exchanged {
            finish()
            states[index].store(Self.idle, ordering: .releasing)
            return false
        }
        // Only a release moves a creating bud elsewhere.
        states[index].store(Self.idle, ordering: .releasing)
        return true
    }

    /// The creator, when `tmem.put` failed (nothing was published).
    @inline(__always)
    func abandonCreate(_ ref: ZBudRef) {
        states[slot(ref)].store(Self.idle, ordering: .releasing)
    }

    /// A releaser (under a TMem bucket lock). Returns true when the bud is
    /// being created: the creator will free it in zbud; the caller must not.
    @inline(__always)
    func releaseDuringCreate(_ ref: ZBudRef) -> Bool {
        let index = slot(ref)
        while true {
            let (exchanged, seen) = states[index].compareExchange(
                expected: Self.creating, desired: Self.released, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            if seen != Self.finishing { return false }
            // The creator is inside zbud's finishCreate; it is nearly done.
            while states[index].load(ordering: .acquiring) == Self.finishing { sched_yield() }
        }
    }
}
