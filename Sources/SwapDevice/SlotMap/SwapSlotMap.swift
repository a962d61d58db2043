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
// Free slots come from `freedSlots` (a stack of slots that were used and freed,
// reused first) and then from `nextFresh`, the first slot never handed out, so
// creating a large map costs no scan and allocation is O(1). One `Lock` guards
// everything; no other lock is taken inside it. Clearing a has-cache bit wakes
// the entry's waiters (`SwapEntryWaitTable`) after the lock is released.

import ZCacheSupport

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

    private let lock = Lock()
    private var map: [UInt16]
    private var freedSlots: [UInt32] = []
    private var nextFresh = 1
    private var used = 0
    private var badFreeCount = 0

    /// A map of `slotCount` slots (slot 0 included, and never handed out) for
    /// entries of `type`, all free.
    public init(type: Int, slotCount: Int) {
        self.type = type
        self.slotCount = max(1, slotCount)
        map = Array(repeating: 0, count: self.slotCount)
        map[0] = Self.badBit
    }

    /// `get_swap_page`: a free slot, now with its has-cache bit set and count 0, or
    /// `nil` when every slot is in use.
    public func allocate() -> SwapEntry? {
        lock.withLock { () -> SwapEntry? in
            let slot: Int
            if let freed = freedSlots.popLast() {
                slot = Int(freed)
            } else if nextFresh < slotCount {
                slot = nextFresh
                nextFresh += 1
            } else {
                return nil
            }
            assert(map[slot] == 0, "free slot \(slot) has state \(map[slot])")
            map[slot] = Self.hasCacheBit
            used += 1
            checkInvariants()
            return SwapEntry(type: type, offset: UInt64(slot))
        }
    }

    /// `swap_duplicate`: one more reference to an entry in use (count > 0 or
    /// has-cache set). False when the entry is not in use or at `maxUseCount`.
    public func duplicate(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else { return false }
        return lock.withLock {
            let state = map[slot]
            let count = state & Self.countMask
            guard count > 0 || state & Self.hasCacheBit != 0 else { return false }
            guard Int(count) < Self.maxUseCount else { return false }
            map[slot] = state + 1
            return true
        }
    }

    /// `swap_free`: drops one reference; the slot is free once its count is 0 and
    /// its has-cache bit clear.
    public func free(_ entry: SwapEntry) {
        guard let slot = slot(of: entry) else {
            lock.withLock { badFreeCount += 1 }
            return
        }
        lock.withLock {
            let state = map[slot]
            guard state & Self.countMask > 0 else {
                badFreeCount += 1
                return
            }
            map[slot] = state - 1
            releaseIfFree(slot)
        }
    }

    /// Drops one reference unless it is the last one. Returns false, changing
    /// nothing, when `entry` has exactly one reference left: the caller is its
    /// last owner and frees it with the care that needs (`ZCache.swapFree`).
    /// A reference that does not exist is counted in `badFrees` (returns true).
    public func freeUnlessLast(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else {
            lock.withLock { badFreeCount += 1 }
            return true
        }
        return lock.withLock {
            let state = map[slot]
            let count = state & Self.countMask
            guard count != 1 else { return false }
            if count == 0 {
                badFreeCount += 1
            } else {
                map[slot] = state - 1
            }
            return true
        }
    }

    /// `swapcache_prepare`: claims the has-cache bit before adding a page to the
    /// swap cache for `entry`. Exactly one of several racing callers gets `.prepared`.
    public func swapcachePrepare(_ entry: SwapEntry) -> SwapcachePrepareResult {
        guard let slot = slot(of: entry) else { return .notInUse }
        return lock.withLock {
            let state = map[slot]
            if state & Self.hasCacheBit != 0 { return .alreadyPrepared }
            if state & Self.countMask == 0 { return .notInUse }
            map[slot] = state | Self.hasCacheBit
            return .prepared
        }
    }

    /// `swapcache_free`: clears the has-cache bit (the page left the swap cache, or
    /// was never added); frees the slot when its count is 0.
    public func swapcacheFree(_ entry: SwapEntry) {
        guard let slot = slot(of: entry) else {
            lock.withLock { badFreeCount += 1 }
            return
        }
        lock.withLock {
            let state = map[slot]
            guard state & Self.hasCacheBit != 0 else {
                badFreeCount += 1
                return
            }
            map[slot] = state & ~Self.hasCacheBit
            releaseIfFree(slot)
        }
        SwapEntryWaitTable.wake(entry)
    }

    /// Ends a swap-in that holds the has-cache bit, in one step: drops the
    /// caller's reference (`swap_free`) and the has-cache bit (`swapcache_free`).
    /// When other references remain and `keepCacheWhenShared` is true, the bit
    /// is kept instead and the call returns true: the caller then adds the page
    /// to the swap cache for the other owners, and that page owns the bit.
    public func endSwapIn(_ entry: SwapEntry, keepCacheWhenShared: Bool) -> Bool {
        guard let slot = slot(of: entry) else {
            lock.withLock { badFreeCount += 1 }
            return false
        }
        let keptCache = lock.withLock { () -> Bool in
            var state = map[slot]
            if state & Self.countMask == 0 {
                badFreeCount += 1
            } else {
                state -= 1
            }
            let shared = state & Self.countMask > 0
            if state & Self.hasCacheBit == 0 {
                badFreeCount += 1
            } else if !(shared && keepCacheWhenShared) {
                state &= ~Self.hasCacheBit
            }
            map[slot] = state
            releaseIfFree(slot)
            return state & Self.hasCacheBit != 0
        }
        if !keptCache { SwapEntryWaitTable.wake(entry) }
        return keptCache
    }

    /// The entry's reference count (0 for an entry that is not a slot here).
    public func useCount(_ entry: SwapEntry) -> Int {
        guard let slot = slot(of: entry) else { return 0 }
        return lock.withLock { Int(map[slot] & Self.countMask) }
    }

    /// Whether the entry's has-cache bit is set.
    public func hasCache(_ entry: SwapEntry) -> Bool {
        guard let slot = slot(of: entry) else { return false }
        return lock.withLock { map[slot] & Self.hasCacheBit != 0 }
    }

    /// Slots that `allocate` can still hand out.
    public var freeSlots: Int { lock.withLock { slotCount - 1 - used } }

    /// Slots in use (a count above 0 or the has-cache bit set).
    public var usedSlots: Int { lock.withLock { used } }

    /// Frees of references that did not exist (see the type's description).
    public var badFrees: Int { lock.withLock { badFreeCount } }

    /// The slot number of `entry` if it names a slot of this map other than 0.
    private func slot(of entry: SwapEntry) -> Int? {
        guard entry.type == type, entry.offset > 0, entry.offset < UInt64(slotCount) else {
            return nil
        }
        return Int(entry.offset)
    }

    /// Puts `slot` back on the free stack if nothing refers to it. Lock held.
    private func releaseIfFree(_ slot: Int) {
        guard map[slot] == 0 else { return }
        freedSlots.append(UInt32(truncatingIfNeeded: slot))
        used -= 1
        checkInvariants()
    }

    /// Every slot is slot 0, handed out, freed or never handed out. Lock held.
    @inline(__always)
    private func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            precondition(
                1 + used + freedSlots.count + (slotCount - nextFresh) == slotCount,
                "slot accounting: used \(used), freed \(freedSlots.count), next \(nextFresh)")
        #endif
    }
}
