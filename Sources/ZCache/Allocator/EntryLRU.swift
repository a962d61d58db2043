// The per-entry LRU (zswap's since 6.5, when it moved the LRU out of the
// allocators): for allocators without a frame LRU, ZCache orders the stored
// pages of a class itself, oldest first.
//
//   nodes, indexed by the allocator's handle (handles are small and dense):
//
//     prev[h], next[h]: UInt32   links, or a state in next[h]:
//                                  free              not tracked
//                                  isolated          taken by an evictor/writeback
//                                  isolatedReleased  ... and TMem let go of it
//     size[h]: UInt16            stored bytes (what the allocator needs to read/free)
//
//     oldest <-> ... <-> newest  (`oldest`, `newest`: `end` when empty)
//
// Lifecycle of an entry: `link` when TMem publishes it (under the bucket
// lock, so nobody can free it first); then exactly one of
//   - `release` (TMem let go: flush, replacing put, removing get): unlinked,
//     and the caller frees the object;
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
// Only operations that add or remove an entry take it; a get that leaves the
// page in place (non-exclusive) does not touch the LRU, as in zswap.

import ZCacheSupport

final class EntryLRU: @unchecked Sendable {
    private static let end: UInt32 = 0xFFFF_FFFC
    private static let isolatedReleased: UInt32 = 0xFFFF_FFFD
    private static let isolated: UInt32 = 0xFFFF_FFFE
    private static let free: UInt32 = 0xFFFF_FFFF
    /// Handles must stay below this.
    static let handleLimit: UInt32 = 0xFFFF_FFF0

    private let lock = Lock()
    // Guarded by `lock`.
    private var prev: [UInt32] = []
    private var next: [UInt32] = []
    private var size: [UInt16] = []
    private var oldest = EntryLRU.end
    private var newest = EntryLRU.end
    private var linked = 0

    init() {}

    /// Entries on the list (isolated ones excluded).
    var count: Int { lock.withLock { linked } }

    /// Bytes of the node arrays, from their capacities.
    var metadataBytes: Int {
        lock.withLock {
            prev.capacity * MemoryLayout<UInt32>.stride + next.capacity
                * MemoryLayout<UInt32>.stride + size.capacity * MemoryLayout<UInt16>.stride
        }
    }

    /// Adds `handle`, `storedSize` bytes, at the newest end.
    func link(_ handle: UInt32, storedSize: Int) {
        precondition(handle < Self.handleLimit, "EntryLRU: handle \(handle) out of range")
        let index = Int(handle)
        lock.lock()
        if index >= next.count { grow(to: index + 1) }
        precondition(next[index] == Self.free, "EntryLRU: handle \(handle) linked twice")
        size[index] = UInt16(storedSize)
        append(handle)
        lock.unlock()
    }

    /// TMem let go of `handle`. Returns true when the caller must free the
    /// object now, false when an isolator holds it (and will free it).
    func release(_ handle: UInt32) -> Bool {
        let index = Int(handle)
        lock.lock()
        defer { lock.unlock() }
        precondition(index < next.count && next[index] != Self.free, "EntryLRU: \(handle) not tracked")
        switch next[index] {
        case Self.isolated:
            next[index] = Self.isolatedReleased
            return false
        case Self.isolatedReleased:
            preconditionFailure("EntryLRU: \(handle) released twice")
        default:
            unlink(handle)
            next[index] = Self.free
            return true
        }
    }

    /// Takes up to `count` entries from the oldest end; each stays allocated
    /// until `finishIsolation`.
    func isolateOldest(upTo count: Int) -> [(handle: UInt32, storedSize: Int)] {
        var result: [(handle: UInt32, storedSize: Int)] = []
        lock.lock()
        while result.count < count, oldest != Self.end {
            let handle = oldest
            unlink(handle)
            next[Int(handle)] = Self.isolated
            result.append((handle, Int(size[Int(handle)])))
        }
        lock.unlock()
        return result
    }

    /// Ends an isolation. Returns true when TMem let go of the entry meanwhile
    /// (the caller frees the object); otherwise the entry is linked again at
    /// the newest end and stays stored.
    func finishIsolation(_ handle: UInt32) -> Bool {
        let index = Int(handle)
        lock.lock()
        defer { lock.unlock() }
        switch next[index] {
        case Self.isolatedReleased:
            next[index] = Self.free
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
                node = next[Int(node)]
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
                precondition(prev[Int(node)] == previous, "EntryLRU: broken back link at \(node)")
                seen += 1
                precondition(seen <= linked, "EntryLRU: cycle")
                previous = node
                node = next[Int(node)]
            }
            precondition(previous == newest, "EntryLRU: newest is not the last node")
            precondition(seen == linked, "EntryLRU: \(seen) linked, count says \(linked)")
        }
    }

    // MARK: Under the lock

    private func grow(to needed: Int) {
        let capacity = max(needed, next.count * 2, 64)
        prev.reserveCapacity(capacity)
        next.reserveCapacity(capacity)
        size.reserveCapacity(capacity)
        let added = capacity - next.count
        prev.append(contentsOf: repeatElement(Self.end, count: added))
        next.append(contentsOf: repeatElement(Self.free, count: added))
        size.append(contentsOf: repeatElement(0, count: added))
    }

    private func append(_ handle: UInt32) {
        let index = Int(handle)
        prev[index] = newest
        next[index] = Self.end
        if newest == Self.end { oldest = handle } else { next[Int(newest)] = handle }
        newest = handle
        linked += 1
    }

    private func unlink(_ handle: UInt32) {
        let index = Int(handle)
        let before = prev[index]
        let after = next[index]
        if before == Self.end { oldest = after } else { next[Int(before)] = after }
        if after == Self.end { newest = before } else { prev[Int(after)] = before }
        prev[index] = Self.end
        linked -= 1
    }
}
