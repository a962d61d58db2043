// One object's page index -> handle map (the kernel keeps a radix tree of
// 64-slot `tmem_objnode`s; this keeps one of two flat arrays instead).
//
// DIRECT (dense indexes)                 TABLE (scattered indexes)
//   direct: [Handle?], slots = []          slots: [Slot], direct = []
//   ┌────┬────┬────┬────┬─────            ┌──────────┬──────────┬──────────┬─────
//   │ h0 │ -- │ h2 │ h3 │ ...             │ idx  h   │ (empty)  │ idx  h   │ ...
//   └────┴────┴────┴────┴─────            └──────────┴──────────┴──────────┴─────
//   position = page index; nil = absent     Slot = (index: UInt32, handle: Handle?)
//   capacity: a power of two > the          empty <=> handle == nil; capacity a
//   highest index, at least 8               power of two, at least 8, load <= 3/4
//
//   empty map: both arrays empty (no allocation).
//
// - Direct: a lookup is a bounds check and a load, no hashing. It costs
//   `capacity * MemoryLayout<Handle?>.stride` bytes whatever the count, so it
//   suits an object whose indexes are small and dense: a frontswap object holds
//   32 swap offsets with indexes 0..<32 (FrontswapKey's swizzle, 8192 slots), a
//   file's pages have indexes 0, 1, 2, ...
// - Table: open addressing. Home slot of an index: the top bits of
//   `index * 2^64/phi` (Fibonacci hashing). Linear probing; an entry sits at its
//   home slot or after it with no empty slot in between. Removal shifts later
//   entries back (no tombstones), so lookups stay short after many flushes.
//
// WHICH ONE: every reallocation goes through `reshape`, which sizes both for the
// entries and keeps the direct array if it costs no more bytes than the table
// would (`tableCapacity(for:)`: the least power of two >= 8 at most 3/4 full).
// Reallocations happen when
//   - an insert finds no room: an index at or beyond the direct array's end, a
//     table about to pass 3/4 full, or an empty map;
//   - a removal leaves the table below 1/8 full (it shrinks), or leaves the
//     direct array costing more than 4x the table (a few pages left of many);
//   - the last entry leaves (both arrays are released).
// So an insert of a far index (UInt32.max, say) turns a direct array into a
// table, and a table whose entries turn out dense (checked when it grows or
// shrinks) turns into a direct array. The factor of 4 between keeping and
// leaving the direct array is hysteresis: after a reshape, the count must fall
// by about 4x before the next one, so each reshape's O(capacity) copy is paid
// for by as many operations.
//
// Why not the kernel's radix tree: a swap object in a sparse layout holds a few
// scattered indexes, and a 64-slot node per scattered index wastes most of it.
// Either array costs one allocation per object, none per page.

/// A map from page index to handle for one object. Not thread-safe: its bucket's
/// lock guards it.
///
/// Inlinable (as are the other hot paths of the module) so that the storage
/// side's module specializes it for its handle type.
@usableFromInline
struct PageMap<Handle: Equatable> {
    @usableFromInline
    struct Slot {
        @usableFromInline var index: UInt32
        @usableFromInline var handle: Handle?

        @inlinable
        init(index: UInt32, handle: Handle?) {
            self.index = index
            self.handle = handle
        }
    }

    /// The direct array (dense mode), else empty.
    @usableFromInline var direct: [Handle?] = []
    /// The hash table (table mode), else empty. At most one of the two is non-empty.
    @usableFromInline var slots: [Slot] = []
    /// Entries stored.
    @usableFromInline var count = 0

    /// Least capacity of either array.
    @inlinable
    static var minimumCapacity: Int { 8 }

    @inlinable
    init() {}

    @inlinable
    var isEmpty: Bool { count == 0 }

    /// Whether the entries are in the direct array.
    var isDirect: Bool { !direct.isEmpty }

    /// Slots allocated in whichever array is in use (for tests and memory figures).
    var capacity: Int { direct.count + slots.count }

    /// Bytes of the array in use (its elements; the array header is left out).
    var storageBytes: Int {
        direct.count * MemoryLayout<Handle?>.stride + slots.count * MemoryLayout<Slot>.stride
    }

    /// 64 - log2(table capacity): home slot = hash >> shift.
    @inlinable @inline(__always)
    static func shift(forTableCapacity capacity: Int) -> UInt64 {
        UInt64(64 - capacity.trailingZeroBitCount)
    }

    @inlinable @inline(__always)
    static func home(_ index: UInt32, shift: UInt64) -> Int {
        Int(truncatingIfNeeded: (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// The handle at `index`, if any.
    @inlinable
    func lookup(_ index: UInt32) -> Handle? {
        let position = Int(index)
        if position < direct.count { return direct[position] }
        guard !slots.isEmpty else { return nil }
        return slots.withUnsafeBufferPointer { buffer in
            let mask = buffer.count - 1
            var i = Self.home(index, shift: Self.shift(forTableCapacity: buffer.count))
            while let handle = buffer[i].handle {
                if buffer[i].index == index { return handle }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Stores `handle` at `index`; returns the handle it replaced, if any.
    @inlinable
    mutating func insert(_ handle: Handle, at index: UInt32) -> Handle? {
        let position = Int(index)
        if position < direct.count {
            let old = direct[position]
            direct[position] = handle
            if old == nil { count += 1 }
            return old
        }
        if !slots.isEmpty {
            let replaced: Handle?? = slots.withUnsafeMutableBufferPointer { buffer in
                let mask = buffer.count - 1
                var i = Self.home(index, shift: Self.shift(forTableCapacity: buffer.count))
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
        // A new index. Reshape unless the table has room for it.
        if slots.isEmpty || (count + 1) * 4 > slots.count * 3 {
            reshape(entries: count + 1, highestIndex: Swift.max(index, highestIndex()))
        }
        count += 1
        if !direct.isEmpty {
            direct[position] = handle
        } else {
            Self.placeNew(Slot(index: index, handle: handle), in: &slots)
        }
        return nil
    }

    /// A get's one access: the handle at `index` unless it is absent or (with
    /// `ifHandle`) another one, removed when `removing`; `nowEmpty` when that
    /// removal took the last entry. One in-place access, so the caller's
    /// dictionary lends the map without copying (retaining) its arrays, as a
    /// `lookup` through the dictionary's getter would.
    @inlinable
    mutating func take(_ index: UInt32, ifHandle: Handle?, removing: Bool) -> (
        handle: Handle, nowEmpty: Bool
    )? {
        guard let handle = lookup(index) else { return nil }
        if let ifHandle, ifHandle != handle { return nil }
        guard removing else { return (handle, false) }
        _ = remove(index)
        return (handle, count == 0)
    }

    /// Removes and returns the handle at `index`, if any.
    @inlinable
    mutating func remove(_ index: UInt32) -> Handle? {
        let position = Int(index)
        if position < direct.count {
            guard let old = direct[position] else { return nil }
            direct[position] = nil
            count -= 1
            if count == 0 {
                direct = []
            } else if direct.count * MemoryLayout<Handle?>.stride
                > 4 * Self.tableCapacity(for: count) * MemoryLayout<Slot>.stride
            {
                reshape(entries: count, highestIndex: highestIndex())
            }
            return old
        }
        guard !slots.isEmpty else { return nil }
        let removed: Handle? = slots.withUnsafeMutableBufferPointer { buffer in
            let mask = buffer.count - 1
            let shift = Self.shift(forTableCapacity: buffer.count)
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
        } else if slots.count > Self.minimumCapacity && count * 8 < slots.count {
            reshape(entries: count, highestIndex: highestIndex())
        }
        return removed
    }

    /// Calls `body` on every (index, handle), in no particular order (ascending
    /// in a direct array, hash order in a table).
    @inlinable
    func forEach(_ body: (UInt32, Handle) -> Void) {
        for (position, handle) in direct.enumerated() {
            if let handle { body(UInt32(truncatingIfNeeded: position), handle) }
        }
        for slot in slots {
            if let handle = slot.handle { body(slot.index, handle) }
        }
    }

    // MARK: Reshaping

    /// Table capacity for `entries`: the least power of two, at least
    /// `minimumCapacity`, that they fill at most 3/4.
    @inlinable
    static func tableCapacity(for entries: Int) -> Int {
        let needed = (entries * 4 + 2) / 3  // ceil(entries * 4/3)
        return Swift.max(
            minimumCapacity,
            needed <= 1 ? 1 : 1 << (Int.bitWidth - (needed - 1).leadingZeroBitCount))
    }

    /// Direct capacity covering `highestIndex`: the least power of two above it,
    /// at least `minimumCapacity`. (2^32 for UInt32.max: an Int, never allocated.)
    @inlinable
    static func directCapacity(covering highestIndex: UInt32) -> Int {
        Swift.max(minimumCapacity, 1 << (UInt32.bitWidth - highestIndex.leadingZeroBitCount))
    }

    /// The highest index stored (0 when empty). Linear in the capacity: only
    /// reshapes, already linear, call it.
    @inlinable
    func highestIndex() -> UInt32 {
        if let position = direct.lastIndex(where: { $0 != nil }) {
            return UInt32(truncatingIfNeeded: position)
        }
        var highest: UInt32 = 0
        for slot in slots where slot.handle != nil { highest = Swift.max(highest, slot.index) }
        return highest
    }

    /// Moves the entries into a new array sized for `entries` of them with
    /// indexes up to `highestIndex`: the direct array if it costs no more bytes
    /// than the table, else the table. (`entries` may count one the caller is
    /// about to insert.)
    @inlinable
    mutating func reshape(entries: Int, highestIndex: UInt32) {
        let directCapacity = Self.directCapacity(covering: highestIndex)
        let tableCapacity = Self.tableCapacity(for: entries)
        let oldDirect = direct
        let oldSlots = slots
        if directCapacity * MemoryLayout<Handle?>.stride
            <= tableCapacity * MemoryLayout<Slot>.stride
        {
            slots = []
            direct = Array(repeating: nil, count: directCapacity)
            direct.withUnsafeMutableBufferPointer { buffer in
                for (position, handle) in oldDirect.enumerated() where handle != nil {
                    buffer[position] = handle
                }
                for slot in oldSlots where slot.handle != nil {
                    buffer[Int(slot.index)] = slot.handle
                }
            }
        } else {
            direct = []
            slots = Array(repeating: Slot(index: 0, handle: nil), count: tableCapacity)
            for (position, handle) in oldDirect.enumerated() where handle != nil {
                Self.placeNew(
                    Slot(index: UInt32(truncatingIfNeeded: position), handle: handle), in: &slots)
            }
            for slot in oldSlots where slot.handle != nil { Self.placeNew(slot, in: &slots) }
        }
    }

    // MARK: Table internals

    /// Empties the slot at `hole` and moves later entries of its probe run back
    /// so that every entry stays reachable from its home slot.
    @inlinable @inline(__always)
    static func closeHole(
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

    /// Puts `slot`, whose index is not in the table, at the first empty slot
    /// from its home.
    @inlinable
    static func placeNew(_ slot: Slot, in slots: inout [Slot]) {
        slots.withUnsafeMutableBufferPointer { buffer in
            let mask = buffer.count - 1
            var i = home(slot.index, shift: shift(forTableCapacity: buffer.count))
            while buffer[i].handle != nil { i = (i + 1) & mask }
            buffer[i] = slot
        }
    }
}

extension PageMap {
    /// Checks the map's invariants (one array in use, capacities, load,
    /// reachability, no duplicate index, count). Linear in the capacity: tests
    /// call it, operations do not.
    func checkInvariants() {
        if count == 0 {
            precondition(
                direct.isEmpty && slots.isEmpty,
                "empty page map keeps \(direct.count) + \(slots.count) slots")
            return
        }
        precondition(direct.isEmpty != slots.isEmpty, "page map uses both arrays or neither")
        if !direct.isEmpty {
            precondition(
                direct.count.nonzeroBitCount == 1 && direct.count >= Self.minimumCapacity,
                "direct capacity \(direct.count) not a power of 2 >= \(Self.minimumCapacity)")
            precondition(
                direct.count * MemoryLayout<Handle?>.stride
                    <= 4 * Self.tableCapacity(for: count) * MemoryLayout<Slot>.stride,
                "direct array of \(direct.count) for \(count) entries costs over 4x the table")
            let occupied = direct.lazy.filter { $0 != nil }.count
            precondition(occupied == count, "count \(count) but \(occupied) slots in use")
            return
        }
        precondition(
            slots.count.nonzeroBitCount == 1 && slots.count >= Self.minimumCapacity,
            "table capacity \(slots.count) not a power of 2 >= \(Self.minimumCapacity)")
        precondition(count * 4 <= slots.count * 3, "page map over 3/4 full")
        precondition(
            slots.count == Self.minimumCapacity || count * 8 >= slots.count,
            "table of \(slots.count) below 1/8 full")
        let mask = slots.count - 1
        let shift = Self.shift(forTableCapacity: slots.count)
        var seen = Set<UInt32>()
        var occupied = 0
        for (position, slot) in slots.enumerated() where slot.handle != nil {
            occupied += 1
            precondition(seen.insert(slot.index).inserted, "index \(slot.index) stored twice")
            var i = Self.home(slot.index, shift: shift)
            while i != position {
                precondition(slots[i].handle != nil, "index \(slot.index) unreachable from home")
                i = (i + 1) & mask
            }
        }
        precondition(occupied == count, "count \(count) but \(occupied) slots in use")
    }
}
