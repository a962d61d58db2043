// The per-entry LRU (zswap's since 6.5, when it moved the LRU out of the
// allocators): for allocators without a frame LRU, ZCache orders the stored
// pages of a class itself, oldest first.
//
//   nodes, indexed by the allocator's handle h: table h >> 24, entry h & 0xFFFFFF
//   (zsmalloc's handles are class << 24 | slot, slots dense per class; zbud's
//   are frame << 1 | bud): one growable table per top byte, raw memory.
//
//     links[h] = (prev, next): UInt32 pair, handles, or a state in next:
//                                  free              not tracked
//                                  isolated          taken by an evictor/writeback
//                                  isolatedReleased  ... and TMem let go of it
//     referenced[h]: 1 bit     zswap's second chance (`entry->referenced`):
//                                set when linked (a store) and on a get that
//                                leaves the page in place; the shrinker's walk
//                                (`rotateReferencedOldest`) clears it and moves
//                                the entry to the newest end instead of taking it
//     (8 bytes and a bit per handle slot: the key and size live elsewhere, the
//     key in front of the object, the size in TMem's handle)
//
//     oldest <-> ... <-> newest  (`oldest`, `newest`: `end` when empty)
//
// Lifecycle of an entry: `link` when TMem publishes it (under the bucket
// lock, so nobody can free it first); then exactly one of
//   - `release` (TMem let go: flush, replacing put, removing get): unlinked,
//     and the caller frees the object. A removing get of an isolated entry
//     (`releaseUnlessIsolated` says so, changing nothing) copies the object
//     out before its `release`, which hands the object to the isolator: the
//     isolator may free it at once;
//   - `isolate` by an evictor or writeback, which reads the key in front of
//     the object, asks TMem to drop "this key if it still maps here", and
//     ends with `finishIsolation`: if TMem let go meanwhile (`release` saw the
//     entry isolated and freed nothing), the isolator frees the object; if
//     not, the entry goes back at the newest end.
// So every object is freed exactly once, and an isolated object stays
// allocated (its handle cannot be reused) until its isolator is done: the
// per-entry counterpart of zbud's dying frame.
//
// Locking: one `Lock` per LRU, a leaf under the TMem bucket lock and above the
// allocator's locks (it is never held while calling the allocator or TMem).
// Operations that add or remove an entry take it, and a get that leaves the
// page in place (non-exclusive), to set the entry's referenced bit; it does
// not move the entry (zswap's LRU is in store order, the bit does the rest).

import ZCacheSupport

final class EntryLRU: @unchecked Sendable {
    private static let end: UInt32 = 0xFFFF_FFFC
    private static let isolatedReleased: UInt32 = 0xFFFF_FFFD
    private static let isolated: UInt32 = 0xFFFF_FFFE
    private static let free: UInt32 = 0xFFFF_FFFF
    /// Handles must stay below this.
    static let handleLimit: UInt32 = 0xFFFF_FFF0

    /// One node's links: handles, or a state in `next`.
    private struct Links {
        var prev: UInt32
        var next: UInt32
    }

    /// The nodes whose handles share a top byte: `capacity` links, then the
    /// referenced bits, 64 nodes a word. Raw storage, grown by `grow`: the
    /// hot paths (every store and load) pay no copy-on-write or exclusivity
    /// check, only the lock.
    private struct NodeTable {
        var links: UnsafeMutablePointer<Links>?
        var referenced: UnsafeMutablePointer<UInt64>?
        var capacity = 0

        static func words(_ capacity: Int) -> Int { (capacity + 63) / 64 }
    }

    private let lock = Lock()
    /// 256 tables, one per top byte of a handle. Guarded by `lock`.
    private let tables: UnsafeMutablePointer<NodeTable>
    // Guarded by `lock` (which already serializes every access).
    @exclusivity(unchecked) private var oldest = EntryLRU.end
    @exclusivity(unchecked) private var newest = EntryLRU.end
    @exclusivity(unchecked) private var linked = 0

    init() {
        tables = .allocate(capacity: 256)
        tables.initialize(repeating: NodeTable(), count: 256)
    }

    deinit {
        for t in 0..<256 {
            tables[t].links?.deallocate()
            tables[t].referenced?.deallocate()
        }
        tables.deinitialize(count: 256)
        tables.deallocate()
    }

    /// Entries on the list (isolated ones excluded).
    var count: Int { lock.withLock { linked } }

    /// Bytes of the node tables, from their capacities.
    var metadataBytes: Int {
        lock.withLock {
            (0..<256).reduce(0) { total, t in
                let capacity = tables[t].capacity
                return total + capacity * MemoryLayout<Links>.stride
                    + NodeTable.words(capacity) * MemoryLayout<UInt64>.stride
            }
        }
    }

    @inline(__always)
    private static func split(_ handle: UInt32) -> (table: Int, entry: Int) {
        (Int(handle >> 24), Int(handle & 0xFF_FFFF))
    }

    /// The links of `handle`'s node, which exists (`hasNode`).
    @inline(__always)
    private func links(_ handle: UInt32) -> UnsafeMutablePointer<Links> {
        let (t, e) = Self.split(handle)
        return tables[t].links.unsafelyUnwrapped + e
    }

    @inline(__always)
    private func next(_ handle: UInt32) -> UInt32 { links(handle).pointee.next }

    @inline(__always)
    private func setNext(_ handle: UInt32, _ value: UInt32) { links(handle).pointee.next = value }

    @inline(__always)
    private func prev(_ handle: UInt32) -> UInt32 { links(handle).pointee.prev }

    @inline(__always)
    private func setPrev(_ handle: UInt32, _ value: UInt32) { links(handle).pointee.prev = value }

    @inline(__always)
    private func isReferenced(_ handle: UInt32) -> Bool {
        let (t, e) = Self.split(handle)
        return tables[t].referenced.unsafelyUnwrapped[e >> 6] & (1 << UInt64(e & 63)) != 0
    }

    @inline(__always)
    private func setReferenced(_ handle: UInt32, _ value: Bool) {
        let (t, e) = Self.split(handle)
        let word = tables[t].referenced.unsafelyUnwrapped + (e >> 6)
        let bit: UInt64 = 1 << UInt64(e & 63)
        if value {
            word.pointee |= bit
        } else {
            word.pointee &= ~bit
        }
    }

    /// Whether `handle` has a node (it was linked once).
    @inline(__always)
    private func hasNode(_ handle: UInt32) -> Bool {
        let (t, e) = Self.split(handle)
        return e < tables[t].capacity
    }

    /// Adds `handle` at the newest end, referenced (zswap sets the bit at
    /// store, so a page gets one pass of the walk before it can be written back).
    func link(_ handle: UInt32) {
        precondition(handle < Self.handleLimit, "EntryLRU: handle \(handle) out of range")
        let (t, e) = Self.split(handle)
        lock.lock()
        if e >= tables[t].capacity { grow(t, to: e + 1) }
        precondition(next(handle) == Self.free, "EntryLRU: handle \(handle) linked twice")
        append(handle)
        setReferenced(handle, true)
        lock.unlock()
    }

    /// A get found `handle` and left it stored: it was used, so the next walk
    /// spares it once. Nothing for an entry an isolator holds (it is leaving).
    func markReferenced(_ handle: UInt32) {
        lock.lock()
        defer { lock.unlock() }
        guard hasNode(handle) else { return }
        switch next(handle) {
        case Self.free, Self.isolated, Self.isolatedReleased: return
        default: setReferenced(handle, true)
        }
    }

    /// zswap's second chance (`shrink_memcg_cb` returning LRU_ROTATE) over the
    /// oldest end: while the oldest entry is referenced and fewer than `limit`
    /// were rotated, clears its bit and moves it to the newest end. Stops at
    /// the first unreferenced entry, which the next `isolateOldest` takes.
    /// Returns how many were rotated.
    func rotateReferencedOldest(limit: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        var rotated = 0
        while rotated < limit, oldest != Self.end, isReferenced(oldest) {
            let handle = oldest
            setReferenced(handle, false)
            // Only entry: it stays where it is, already the newest.
            if handle != newest {
                unlink(handle)
                append(handle)
            }
            rotated += 1
        }
        return rotated
    }

    /// The referenced bit of `handle`'s node, false without one (tests).
    func referencedBit(_ handle: UInt32) -> Bool {
        lock.withLock { hasNode(handle) && isReferenced(handle) }
    }

    /// TMem let go of `handle`. Returns true when the caller must free the
    /// object now, false when an isolator holds it (and will free it).
    func release(_ handle: UInt32) -> Bool {
        release(handle, unlessIsolated: false)
    }

    /// `release`, unless an isolator holds `handle`: then nothing changes and
    /// the result is false. For a get that removes its page: it copies an
    /// isolated object out while TMem still holds it, and only then lets go
    /// (`release`), since the isolator may free a let-go object at once.
    func releaseUnlessIsolated(_ handle: UInt32) -> Bool {
        release(handle, unlessIsolated: true)
    }

    private func release(_ handle: UInt32, unlessIsolated: Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        precondition(
            hasNode(handle) && next(handle) != Self.free, "EntryLRU: \(handle) not tracked")
        switch next(handle) {
        case Self.isolated:
            if !unlessIsolated { setNext(handle, Self.isolatedReleased) }
            return false
        case Self.isolatedReleased:
            preconditionFailure("EntryLRU: \(handle) released twice")
        default:
            unlink(handle)
            setNext(handle, Self.free)
            return true
        }
    }

    /// Takes up to `buffer.count` entries from the oldest end into `buffer`
    /// (its first ones) and returns how many; each stays allocated until
    /// `finishIsolation`.
    func isolateOldest(into buffer: UnsafeMutableBufferPointer<UInt32>) -> Int {
        var taken = 0
        lock.lock()
        while taken < buffer.count, oldest != Self.end {
            let handle = oldest
            unlink(handle)
            setNext(handle, Self.isolated)
            buffer.initializeElement(at: taken, to: handle)
            taken += 1
        }
        lock.unlock()
        return taken
    }

    /// Ends an isolation. Returns true when TMem let go of the entry meanwhile
    /// (the caller frees the object); otherwise the entry is linked again at
    /// the newest end and stays stored.
    func finishIsolation(_ handle: UInt32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        switch next(handle) {
        case Self.isolatedReleased:
            setNext(handle, Self.free)
            return true
        case Self.isolated:
            append(handle)
            return false
        default:
            preconditionFailure("EntryLRU: \(handle) was not isolated")
        }
    }

    /// The linked handles, oldest first (tests).
    func handlesOldestFirst() -> [UInt32] {
        lock.withLock {
            var result: [UInt32] = []
            var node = oldest
            while node != Self.end {
                result.append(node)
                node = next(node)
            }
            return result
        }
    }

    /// Checks the links: both directions agree, the count matches.
    func checkInvariants() {
        lock.withLock {
            var seen = 0
            var previous = Self.end
            var node = oldest
            while node != Self.end {
                precondition(prev(node) == previous, "EntryLRU: broken back link at \(node)")
                seen += 1
                precondition(seen <= linked, "EntryLRU: cycle")
                previous = node
                node = next(node)
            }
            precondition(previous == newest, "EntryLRU: newest is not the last node")
            precondition(seen == linked, "EntryLRU: \(seen) linked, count says \(linked)")
        }
    }

    // MARK: Under the lock

    private func grow(_ t: Int, to needed: Int) {
        // Grows by an eighth: the tables are per-entry memory, kept tight
        // (zsmalloc hands out a class's handle slots densely, so a table
        // grows one slot past its end at a time).
        let old = tables[t]
        let capacity = max(needed, old.capacity * 9 / 8, 16)
        let links = UnsafeMutablePointer<Links>.allocate(capacity: capacity)
        if let oldLinks = old.links { links.moveInitialize(from: oldLinks, count: old.capacity) }
        (links + old.capacity).initialize(
            repeating: Links(prev: Self.end, next: Self.free), count: capacity - old.capacity)
        let words = NodeTable.words(capacity)
        let oldWords = NodeTable.words(old.capacity)
        let referenced = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
        if let oldReferenced = old.referenced {
            referenced.moveInitialize(from: oldReferenced, count: oldWords)
        }
        (referenced + oldWords).initialize(repeating: 0, count: words - oldWords)
        old.links?.deallocate()
        old.referenced?.deallocate()
        tables[t] = NodeTable(links: links, referenced: referenced, capacity: capacity)
    }

    private func append(_ handle: UInt32) {
        setPrev(handle, newest)
        setNext(handle, Self.end)
        if newest == Self.end { oldest = handle } else { setNext(newest, handle) }
        newest = handle
        linked += 1
    }

    private func unlink(_ handle: UInt32) {
        let before = prev(handle)
        let after = next(handle)
        if before == Self.end { oldest = after } else { setNext(before, after) }
        if after == Self.end { newest = before } else { setPrev(after, before) }
        setPrev(handle, Self.end)
        linked -= 1
    }
}
