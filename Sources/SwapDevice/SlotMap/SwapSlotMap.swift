// The kernel's swap_map: one use count and a has-cache bit per slot.
//
//   map[offset]  = count (references from page tables, bits 0..13)
//                | hasCache (bit 15: a swap-cache page exists or is being added)
//                | bad      (bit 14: never handed out; slot 0, the header)
//
//   a slot is free   <=> count == 0 && !hasCache && !bad
//   allocate         free -> (0, hasCache)              get_swap_page
//   duplicate        in use -> count + 1                swap_duplicate
//   free             count - 1; free when (0, !cache)   swap_free
//   swapcachePrepare (c > 0, !cache) -> (c, cache)      swapcache_prepare
//                    (_, cache)  -> .alreadyPrepared    (-EEXIST)
//                    (0, !cache) -> .notInUse           (-ENOENT)
//   swapcacheFree    (c, cache) -> (c, !cache); free when c == 0
//
// Each slot's state is one atomic 16-bit word, changed by compare-and-swap
// (no lock, no copy-on-write array): `duplicate`, `free`, `freeUnlessLast`,
// `swapcachePrepare`, `swapcacheFree` and `endSwapIn` are one CAS, and
// `useCount`/`hasCache` one load. `lock` guards only the free-slot
// bookkeeping: `freedSlots` (a stack of slots that were used and freed, reused
// first), `nextFresh` (the first slot never handed out) and the used count.
// `allocate` takes it, and so does the one operation whose CAS makes a slot
// free (stores 0), to push the slot. A free slot (state 0) changes only in
// `allocate`, under the lock: every other operation leaves 0 alone, so a slot
// whose CAS just stored 0 stays free, unseen by `allocate`, until it is pushed.
// Creating a large map costs no scan (zeroed pages from calloc) and
// allocation is O(1). The lock takes no other lock. Clearing a has-cache bit
// wakes the entry's waiters (`SwapEntryWaitTable`).

import Synchronization
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `swapcachePrepare` found (the kernel's `swapcache_prepare` return values).
public enum SwapcachePrepareResult: Sendable, Equatable {
    /// The has-cache bit was clear and the entry in use: it is now set, and the
    /// caller must add a page to the swap cache (or call `swapcacheFree`).
    case prepared
    /// Someone else holds the has-cache bit: a page is cached or being added (`-EEXIST`).
    case alreadyPrepared
    /// The entry has no references: it was freed (`-ENOENT`).
    case notInUse
}

/// Per-slot reference counts and has-cache bits of one swap device.
///
/// Entries of another type, slot 0 and slots past the end are never in use:
/// `duplicate` returns false, `swapcachePrepare` returns `.notInUse`, and `free` or
/// `swapcacheFree` of them, or of a slot without that reference, changes nothing
/// and is counted in `badFrees` (the kernel prints "Unused swap offset entry").
public final class SwapSlotMap: @unchecked Sendable {
    static let hasCacheBit: UInt16 = 0x8000
    static let badBit: UInt16 = 0x4000
    static let countMask: UInt16 = 0x3FFF
    /// The largest use count of one slot; `duplicate` fails beyond it.
    public static let maxUseCount = Int(countMask)

    /// The swap type whose entries this map describes.
    public let type: Int
    /// Slots including slot 0: entries have offsets `1..<slotCount`.
    public let slotCount: Int

    /// The slot states, `slotCount` atomics (see the file's opening comment).
    private let map: UnsafeMutablePointer<Atomic<UInt16>>
    /// Guards `slots` (the free-slot bookkeeping).
    private let lock = Lock()
    /// Pointer-backed so that the hot paths pay no exclusivity or
    /// copy-on-write checks. Guarded by `lock`.
    private let slots: UnsafeMutablePointer<FreeSlots>
    private let badFreeCount = Atomic<Int>(0)

    /// The free-slot bookkeeping, guarded by `lock`.
    private struct FreeSlots {
        /// A stack of `freedCount` slots, room for every slot.
        var freedSlots: UnsafeMutablePointer<UInt32>
        var freedCount = 0
        var nextFresh = 1
        var used = 0
    }

    /// A map of `slotCount` slots (slot 0 included, and never handed out) for
    /// entries of `type`, all free.
    public init(type: Int, slotCount: Int) {
        self.type = type
        self.slotCount = max(1, slotCount)
        // Zeroed memory is a map of free slots (an atomic's zero bits are 0);
        // calloc leaves the pages of a large map untouched until used.
        guard let raw = calloc(self.slotCount, MemoryLayout<Atomic<UInt16>>.stride) else {
            fatalError("SwapSlotMap: no memory for \(self.slotCount) slots")
        }
        map = raw.bindMemory(to: Atomic<UInt16>.self, capacity: self.slotCount)
        map[0].store(Self.badBit, ordering: .relaxed)
        slots = .allocate(capacity: 1)
        slots.initialize(to: FreeSlots(freedSlots: .allocate(capacity: self.slotCount)))
    }

    deinit {
        slots.pointee.freedSlots.deallocate()
        slots.deinitialize(count: 1)
        slots.deallocate()
        releaseCAllocation(UnsafeMutableRawPointer(map))
    }

    /// `get_swap_page`: a free slot, now with its has-cache bit set and count 0, or
    /// `nil` when every slot is in use.
    public func allocate() -> SwapEntry? {
        lock.withLock { () -> SwapEntry? in
            let slot: Int
            if slots.pointee.freedCount > 0 {
                slots.pointee.freedCount -= 1
                slot = Int(slots.pointee.freedSlots[slots.pointee.freedCount])
            } else if slots.pointee.nextFresh < slotCount {
                slot = slots.pointee.nextFresh
                slots.pointee.nextFresh += 1
            } else {
                return nil
            }
            // Nothing else changes a free slot (see the file's opening comment).
            let state = map[slot].exchange(Self.hasCacheBit, ordering: .acquiringAndReleasing)
            assert(state == 0, "free slot \(slot) has state \(state)")
            slots.pointee.used += 1
            checkInvariants()
            return SwapEntry(type: type, offset: UInt64(slot))
        }
    }

    /// `swap_duplicate`: one more reference to an entry in use (count > 0 or
    /// has-cache set). False when the entry is not in use or at `maxUseCount`.
    public func duplicate(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else { return false }
        return update(slot) { state in
            let count = state & Self.countMask
            guard count > 0 || state & Self.hasCacheBit != 0 else { return nil }
            guard Int(count) < Self.maxUseCount else { return nil }
            return state + 1
        } != nil
    }

    /// `swap_free`: drops one reference; the slot is free once its count is 0 and
    /// its has-cache bit clear.
    public func free(_ entry: SwapEntry) {
        guard let slot = slot(of: entry) else {
            countBadFree()
            return
        }
        let new = update(slot) { state in
            state & Self.countMask > 0 ? state - 1 : nil
        }
        guard let new else {
            countBadFree()
            return
        }
        if new == 0 { release(slot) }
    }

    /// Drops one reference unless it is the last one. Returns false, changing
    /// nothing, when `entry` has exactly one reference left: the caller is its
    /// last owner and frees it with the care that needs (`ZCache.swapFree`).
    /// A reference that does not exist is counted in `badFrees` (returns true).
    public func freeUnlessLast(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else {
            countBadFree()
            return true
        }
        var last = false
        let new = update(slot) { state in
            let count = state & Self.countMask
            last = count == 1
            return count > 1 ? state - 1 : nil
        }
        if new != nil || last { return !last }
        countBadFree()  // count 0: no reference to drop
        return true
    }

    /// `swapcache_prepare`: claims the has-cache bit before adding a page to the
    /// swap cache for `entry`. Exactly one of several racing callers gets `.prepared`.
    public func swapcachePrepare(_ entry: SwapEntry) -> SwapcachePrepareResult {
        guard let slot = slot(of: entry) else { return .notInUse }
        var result = SwapcachePrepareResult.prepared
        _ = update(slot) { state in
            if state & Self.hasCacheBit != 0 {
                result = .alreadyPrepared
                return nil
            }
            if state & Self.countMask == 0 {
                result = .notInUse
                return nil
            }
            result = .prepared
            return state | Self.hasCacheBit
        }
        return result
    }

    /// `swapcache_free`: clears the has-cache bit (the page left the swap cache, or
    /// was never added); frees the slot when its count is 0.
    public func swapcacheFree(_ entry: SwapEntry) {
        guard let slot = slot(of: entry) else {
            countBadFree()
            return
        }
        let new = update(slot) { state in
            state & Self.hasCacheBit != 0 ? state & ~Self.hasCacheBit : nil
        }
        guard let new else {
            countBadFree()
            return
        }
        if new == 0 { release(slot) }
        SwapEntryWaitTable.wakeAfterSlotChange(entry)
    }

    /// Ends a swap-in that holds the has-cache bit, in one step: drops the
    /// caller's reference (`swap_free`) and the has-cache bit (`swapcache_free`).
    /// When other references remain and `keepCacheWhenShared` is true, the bit
    /// is kept instead and the call returns true: the caller then adds the page
    /// to the swap cache for the other owners, and that page owns the bit.
    public func endSwapIn(_ entry: SwapEntry, keepCacheWhenShared: Bool) -> Bool {
        guard let slot = slot(of: entry) else {
            countBadFree()
            return false
        }
        var badFrees = 0
        var new: UInt16 = 0
        let changed = update(slot) { old in
            var state = old
            badFrees = 0
            if state & Self.countMask == 0 {
                badFrees += 1
            } else {
                state -= 1
            }
            let shared = state & Self.countMask > 0
            if state & Self.hasCacheBit == 0 {
                badFrees += 1
            } else if !(shared && keepCacheWhenShared) {
                state &= ~Self.hasCacheBit
            }
            new = state
            return state != old ? state : nil
        }
        if badFrees > 0 { badFreeCount.add(badFrees, ordering: .relaxed) }
        let keptCache = new & Self.hasCacheBit != 0
        if changed == 0 { release(slot) }
        if !keptCache { SwapEntryWaitTable.wakeAfterSlotChange(entry) }
        return keptCache
    }

    /// The entry's reference count (0 for an entry that is not a slot here).
    public func useCount(_ entry: SwapEntry) -> Int {
        guard let slot = slot(of: entry) else { return 0 }
        return Int(map[slot].load(ordering: .acquiring) & Self.countMask)
    }

    /// Whether the entry's has-cache bit is set.
    public func hasCache(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else { return false }
        return map[slot].load(ordering: .acquiring) & Self.hasCacheBit != 0
    }

    /// Slots that `allocate` can still hand out.
    public var freeSlots: Int { lock.withLock { slotCount - 1 - slots.pointee.used } }

    /// Slots in use (a count above 0 or the has-cache bit set).
    public var usedSlots: Int { lock.withLock { slots.pointee.used } }

    /// Frees of references that did not exist (see the type's description).
    public var badFrees: Int { badFreeCount.load(ordering: .relaxed) }

    /// The slot number of `entry` if it names a slot of this map other than 0.
    @inline(__always)
    private func slot(of entry: SwapEntry) -> Int? {
        guard entry.type == type, entry.offset > 0, entry.offset < UInt64(slotCount) else {
            return nil
        }
        return Int(entry.offset)
    }

    /// Replaces the state of `slot` by `change(state)` atomically (sequentially
    /// consistent, which lets a has-cache change wake its waiters without a
    /// fence: `SwapEntryWaitTable.wakeAfterSlotChange`), retrying
    /// when another thread changed it first (a compare-and-swap loop: it only
    /// repeats when another change went through, it never waits). Returns the
    /// new state, or nil when `change` returned nil (the state is left as it
    /// was). `change` may run more than once; its last run decides.
    @inline(__always)
    private func update(_ slot: Int, _ change: (UInt16) -> UInt16?) -> UInt16? {
        var state = map[slot].load(ordering: .acquiring)
        while true {
            guard let new = change(state) else { return nil }
            let (exchanged, original) = map[slot].weakCompareExchange(
                expected: state, desired: new, successOrdering: .sequentiallyConsistent,
                failureOrdering: .acquiring)
            if exchanged { return new }
            state = original
        }
    }

    @inline(__always)
    private func countBadFree() {
        badFreeCount.add(1, ordering: .relaxed)
    }

    /// Puts `slot`, which a CAS of this thread just made free (state 0), on
    /// the free stack. Until then `allocate` cannot hand it out.
    private func release(_ slot: Int) {
        lock.withLock {
            slots.pointee.freedSlots[slots.pointee.freedCount] = UInt32(truncatingIfNeeded: slot)
            slots.pointee.freedCount += 1
            slots.pointee.used -= 1
            checkInvariants()
        }
    }

    /// Every slot is slot 0, handed out, freed or never handed out. Lock held.
    @inline(__always)
    private func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            let state = slots.pointee
            precondition(
                1 + state.used + state.freedCount + (slotCount - state.nextFresh) == slotCount,
                "slot accounting: used \(state.used), freed \(state.freedCount), "
                    + "next \(state.nextFresh)")
        #endif
    }
}

/// `free(3)` of memory from `calloc` (a file-scope function, as the map's
/// method `free` hides the C one inside it).
private func releaseCAllocation(_ pointer: UnsafeMutableRawPointer) {
    free(pointer)
}
