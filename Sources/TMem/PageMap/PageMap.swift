// One object's page index -> handle map (the kernel keeps a radix tree of
// 64-slot `tmem_objnode`s; this is an open-addressed hash table instead).
//
//   slots: [Slot]  capacity a power of two (or 0 when empty), load <= 3/4
//   ┌──────────┬──────────┬──────────┬──────────┬─────
//   │ idx  h   │ (empty)  │ idx  h   │ idx  h   │ ...     Slot = (index: UInt32, handle: Handle?)
//   └──────────┴──────────┴──────────┴──────────┴─────     empty <=> handle == nil
//
// - Home slot of an index: the top bits of `index * 2^64/phi` (Fibonacci hashing),
//   so dense file indexes and swizzled swap indexes both spread evenly.
// - Linear probing; an entry sits at its home slot or after it with no empty slot
//   in between. Removal shifts later entries back (no tombstones), so lookups stay
//   short after many flushes.
// - Grows by doubling above 3/4 full, shrinks by halving below 1/8 full.
//
// Why not the kernel's radix tree: a swap object holds a few scattered indexes
// (offset >> 8), and a 64-slot node per scattered index wastes most of it. The
// table costs one allocation per object, none per page, about (8 + handle size)
// bytes per slot, and an expected probe or two for any index pattern.

/// A map from page index to handle for one object. Not thread-safe: its bucket's
/// lock guards it.
struct PageMap<Handle: Equatable> {
    struct Slot {
        var index: UInt32
        var handle: Handle?
    }

    private var slots: [Slot] = []
    /// 64 - log2(capacity): home slot = hash >> shift. 64 while empty.
    private var shift: UInt64 = 64
    /// Entries stored.
    private(set) var count = 0

    static var minimumCapacity: Int { 8 }

    init() {}

    var isEmpty: Bool { count == 0 }

    /// Slots allocated (for tests and memory figures).
    var capacity: Int { slots.count }

    @inline(__always)
    private static func home(_ index: UInt32, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always)
    private func home(_ index: UInt32) -> Int { Self.home(index, shift: shift) }

    /// The handle at `index`, if any.
    func lookup(_ index: UInt32) -> Handle? {
        guard count != 0 else { return nil }
        return slots.withUnsafeBufferPointer { buffer in
            let mask = buffer.count - 1
            var i = home(index)
            while let handle = buffer[i].handle {
                if buffer[i].index == index { return handle }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Stores `handle` at `index`; returns the handle it replaced, if any.
    mutating func insert(_ handle: Handle, at index: UInt32) -> Handle? {
        if count != 0 {
            let shift = shift
            let replaced: Handle?? = slots.withUnsafeMutableBufferPointer { buffer in
                let mask = buffer.count - 1
                var i = Self.home(index, shift: shift)
                while let old = buffer[i].handle {
                    if buffer[i].index == index {
                        buffer[i].handle = handle
                        return .some(old)
                    }
                    i = (i + 1) & mask
                }
                return .none
            }
            if let replaced { return replaced }
        }
        if (count + 1) * 4 > slots.count * 3 {
            resize(to: Swift.max(Self.minimumCapacity, slots.count * 2))
        }
        placeNew(Slot(index: index, handle: handle))
        count += 1
        return nil
    }

    /// Removes and returns the handle at `index`, if any.
    mutating func remove(_ index: UInt32) -> Handle? {
        guard count != 0 else { return nil }
        let shift = shift
        let removed: Handle? = slots.withUnsafeMutableBufferPointer { buffer in
            let mask = buffer.count - 1
            var i = Self.home(index, shift: shift)
            while let old = buffer[i].handle {
                if buffer[i].index == index {
                    Self.closeHole(at: i, in: buffer, mask: mask, shift: shift)
                    return old
                }
                i = (i + 1) & mask
            }
            return nil
        }
        guard removed != nil else { return nil }
        count -= 1
        if count == 0 {
            slots = []
            self.shift = 64
        } else if slots.count > Self.minimumCapacity && count * 8 < slots.count {
            resize(to: slots.count / 2)
        }
        return removed
    }

    /// Calls `body` on every (index, handle), in no particular order.
    func forEach(_ body: (UInt32, Handle) -> Void) {
        for slot in slots {
            if let handle = slot.handle { body(slot.index, handle) }
        }
    }

    /// Empties the slot at `hole` and moves later entries of its probe run back
    /// so that every entry stays reachable from its home slot.
    @inline(__always)
    private static func closeHole(
        at start: Int, in buffer: UnsafeMutableBufferPointer<Slot>, mask: Int, shift: UInt64
    ) {
        var hole = start
        buffer[hole].handle = nil
        var j = (hole + 1) & mask
        while buffer[j].handle != nil {
            let ideal = home(buffer[j].index, shift: shift)
            // The entry at j may move to the hole if the hole lies on its probe
            // path, i.e. cyclically within [ideal, j).
            if (j &- ideal) & mask >= (j &- hole) & mask {
                buffer[hole] = buffer[j]
                buffer[j].handle = nil
                hole = j
            }
            j = (j + 1) & mask
        }
    }

    private mutating func placeNew(_ slot: Slot) {
        let start = Self.home(slot.index, shift: shift)
        slots.withUnsafeMutableBufferPointer { buffer in
            let mask = buffer.count - 1
            var i = start
            while buffer[i].handle != nil { i = (i + 1) & mask }
            buffer[i] = slot
        }
    }

    private mutating func resize(to newCapacity: Int) {
        let old = slots
        slots = Array(repeating: Slot(index: 0, handle: nil), count: newCapacity)
        shift = UInt64(64 - newCapacity.trailingZeroBitCount)
        for slot in old where slot.handle != nil { placeNew(slot) }
    }
}

extension PageMap {
    /// Checks the table's invariants (capacity, load, reachability, no duplicate
    /// index, count). Linear in the capacity: tests call it, operations do not.
    func checkInvariants() {
        if count == 0 {
            precondition(slots.isEmpty, "empty page map keeps \(slots.count) slots")
            return
        }
        precondition(slots.count.nonzeroBitCount == 1, "capacity \(slots.count) not a power of 2")
        precondition(count * 4 <= slots.count * 3, "page map over 3/4 full")
        precondition(
            UInt64(64 - slots.count.trailingZeroBitCount) == shift, "shift does not match capacity")
        let mask = slots.count - 1
        var seen = Set<UInt32>()
        var occupied = 0
        for (position, slot) in slots.enumerated() where slot.handle != nil {
            occupied += 1
            precondition(seen.insert(slot.index).inserted, "index \(slot.index) stored twice")
            var i = home(slot.index)
            while i != position {
                precondition(slots[i].handle != nil, "index \(slot.index) unreachable from home")
                i = (i + 1) & mask
            }
        }
        precondition(occupied == count, "count \(count) but \(occupied) slots in use")
    }
}
