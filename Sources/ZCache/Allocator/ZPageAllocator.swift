// The allocator seam: where ZCache keeps compressed bytes (the role of the
// kernel's zpool).
//
//   ZPageStore (one per cache: TMem's storage side)
//    ├─ pool: PageFramePool                 frames for both classes and for writeback
//    ├─ ephemeral:  any ZPageAllocator      ZBudAllocator | ZSmallocAllocator
//    ├─ persistent: any ZPageAllocator
//    ├─ ephemeralLRU, persistentLRU: EntryLRU?   per-entry LRU, only when the
//    │                                     allocator has no frame LRU of its own
//    └─ sameFilled: SameFilledWords         words of same-filled pages (no memory)
//
// Who is least recently used:
//   - zbud (`frameLRU != nil`): the allocator's own LRU of frames. Eviction
//     takes a whole ephemeral frame (`evictLRUFrame`), writeback makes the LRU
//     persistent frame a zombie (`zombifyLRUFrame`), as in zcache 2013.
//   - every other allocator: ZCache's per-entry LRU (`EntryLRU`, zswap since
//     6.5). Eviction and writeback take the LRU entries one by one. Such an
//     allocator does not keep the tmem key, so ZCache stores it in front of
//     the compressed bytes, as zbud does in its buds, but in 2-5 bytes for a
//     typical key rather than zbud's 32 (`StoredKey`).
//
// Everything else (the put policy, the get path, the swap-cache protocol of
// writeback, the counters) is one code path over this protocol.

import ZBud

/// Which allocator holds compressed pages.
public enum ZCacheAllocatorKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Two compressed pages per frame at most, with a frame LRU (zcache's own).
    case zbud
    /// Size classes every 16 bytes, objects packed into zspages of 1-8
    /// frames, compaction (mm/zsmalloc.c); LRU kept per entry by ZCache.
    case zsmalloc

    public var description: String { rawValue }
}

/// A compressed-memory allocator for one class (ephemeral or persistent) of pages.
///
/// Handles are 32-bit. Every method may be called from many threads at once
/// and under a TMem bucket lock: each is short and takes only the allocator's
/// own locks and the pool's.
protocol ZPageAllocator: AnyObject, Sendable {
    /// The largest object `allocate` accepts.
    var maxObjectSize: Int { get }

    /// Stores `data` and returns its handle, or nil when no memory can be had
    /// without evicting (the pool is empty). The object is reachable by no
    /// evictor until `published`. `owner` is the tmem key; only an allocator
    /// with a frame LRU keeps it (it must name the key to flush when it evicts).
    func allocate(_ data: UnsafeRawBufferPointer, owner: BudOwner) -> UInt32?

    /// TMem has published the handle under its key (called under the bucket lock).
    func published(_ handle: UInt32)

    /// Copies the first `size` stored bytes of `handle` into `buffer` (zbud
    /// copies all of them). Returns the size, or nil when the object is being
    /// evicted whole (zbud's dying frame).
    func read(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int?

    /// Copies the first bytes of `handle`'s slot, up to `size` but at least
    /// all its stored bytes when fewer (bytes past them are the slot's slack),
    /// into `buffer`; returns how many. For a prefix of unknown length
    /// (`StoredKey`). Nil as for `read`.
    func readHead(_ handle: UInt32, upTo size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?

    /// `read` then `free`, under one acquisition of the allocator's lock.
    func readAndFree(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?

    /// Frees `handle`; frames it emptied go back to the pool.
    func free(_ handle: UInt32)

    /// Frames this allocator holds from the pool, as zcache counts them.
    var framesInUse: Int { get }

    /// The allocator's own count of its frames (cheap): equal to
    /// `framesInUse` at rest, which `ZCache.checkFrameAccounting` checks.
    var ownFrameCount: Int { get }

    /// Moves objects to free frames; returns the frames given back to the pool.
    func compact() -> Int

    /// Bytes of the allocator's own per-object structures outside the frames,
    /// from their real capacities.
    var metadataBytes: Int { get }

    /// The allocator's own statistics.
    var allocatorStatistics: AllocatorStatistics { get }

    /// Checks the allocator's internal invariants (debug builds).
    func checkInvariants()

    /// Whole-frame eviction, when the allocator keeps an LRU of frames (zbud).
    var frameLRU: (any FrameLRU)? { get }
}

/// The whole-frame abilities only zbud has.
protocol FrameLRU: AnyObject, Sendable {
    /// Evicts the least recently used frame that is not busy: `flush` runs once
    /// per object so TMem forgets it (the flush releases nothing: the frame is
    /// dying), then the frame goes back to the pool. Returns false when no
    /// frame could be evicted.
    func evictLRUFrame(flush: (BudOwner, UInt32) -> Void) -> Bool

    /// Makes the least recently used frame that is not busy a zombie and
    /// returns its objects (no heap allocation); each stays readable until
    /// freed the normal way.
    func zombifyLRUFrame() -> FrameBuds

    /// zswap's second chance over the oldest frames: moves referenced ones
    /// (clearing the bit) to the newest end, up to `limit`; returns how many.
    func rotateReferencedLRU(limit: Int) -> Int
}

/// One allocator's statistics (one class of pages).
public struct AllocatorStatistics: Sendable, Codable, Equatable {
    /// Frames held from the pool.
    public var framesInUse = 0
    /// Live objects.
    public var objects = 0
    /// Objects ever stored (zbud's `cumul_zpages`).
    public var objectsStoredTotal = 0
    /// Bytes of the live objects: zbud's buds as stored (its 32-byte key
    /// included); for zsmalloc the compressed bytes only (the key ZCache
    /// stores in front of each counts as overhead, not as object bytes).
    public var objectBytes = 0
    /// Frames given back by compaction (zsmalloc's `pages_compacted`; 0 for zbud).
    public var pagesCompacted = 0
    /// Per size class, as /sys/kernel/debug/zsmalloc/<pool>/classes (zsmalloc only).
    public var classes: [SizeClassStatistics] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case framesInUse = "frames_in_use", objects, objectBytes = "object_bytes"
        case objectsStoredTotal = "objects_stored_total"
        case pagesCompacted = "pages_compacted", classes
    }
}

/// One zsmalloc size class, as a line of its debugfs `classes` file.
public struct SizeClassStatistics: Sendable, Codable, Equatable {
    public var index = 0
    /// Object size of the class.
    public var size = 0
    /// Objects the class's zspages can hold, and those in use.
    public var objectsAllocated = 0, objectsUsed = 0
    /// Frames of the class's zspages, and frames per zspage.
    public var pagesUsed = 0, pagesPerZspage = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case index = "class", size, objectsAllocated = "obj_allocated", objectsUsed = "obj_used"
        case pagesUsed = "pages_used", pagesPerZspage = "pages_per_zspage"
    }
}
