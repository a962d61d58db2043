// ZBud: pageframes holding up to two compressed pages ("zpages"), tracked so
// that whole frames can be reclaimed in LRU order. After the kernel's zbud.c
// (drivers/staging/zcache, February 2013).
//
// FRAME LAYOUT. A frame is 4096 bytes = 64 chunks of 64 bytes. A bud is the
// 32-byte owner handle (the tmem key) followed by the compressed data, rounded
// up to whole chunks; at most 63 chunks, so at most 4000 bytes of data.
//
//   offset 0                                                         4096
//   +-------+------------------+ ........ +-------+---------------------+
//   | owner | data of bud 0    |   free   | owner | data of bud 1       |
//   +-------+------------------+ ........ +-------+---------------------+
//   ^ bud 0 starts at offset 0            ^ 4096 - 64 * chunks(bud 1):
//                                           bud 1 ends at the frame's end
//
//   stored size = 32 + data bytes;  chunks = ceil(stored size / 64)
//   two buds fit in one frame iff chunks(bud 0) + chunks(bud 1) <= 64
//
// PER-FRAME METADATA. Arrays indexed by frame number, sized once for the pool's
// frames (no allocation per bud): `frames[i]` (address, the two stored sizes,
// flags inUse/dying/zombie), `busyBits[i]` (busy0/busy1, atomic so that
// finishCreate takes no lock) and the links of two `IndexLists`.
// A `ZBudRef` is `frame << 1 | bud`.
//
// LISTS (one set per class, i.e. per ZBud instance):
//
//   budLists:  unbuddied[1...63]  frames with one bud of that many chunks
//              buddied (64)       frames with two buds
//   lruLists:  lru (0)            every live frame, least recently used first
//              zombie (1)         persistent frames being written back
//
//   `unbuddiedNonEmpty` has bit k set iff unbuddied[k] is non-empty, so a match
//   finds "the fullest frame that still fits" with one leading-zero count.
//
// FRAME STATES and the lists each is on:
//
//   free ──createInNewFrame──> live (unbuddied[c] + lru, busy0)
//   live: a bud added (createInMatchingFrame) -> buddied, moved to the MRU end
//         of lru (a free does not move it); busyN set until finishCreate
//   live ──free of the last bud──> free: the frame goes back to the caller
//   live, not busy ──evictLRU──> dying (on no list): buds' counters dropped,
//         flush(owner, ref) called per bud with the lock released; a free in a
//         dying frame releases nothing; then free, and the evictor returns it
//   live: referenced set when a bud is added; rotateReferencedLRU clears it
//         and moves the frame to the MRU end (the shrinker's second chance)
//   live, not busy ──zombifyLRU──> zombie (zombie list only, never matched or
//         evicted, data readable); the free of its last bud returns the frame
//
// OWNERSHIP RULE (the seed's double-free question): exactly one party returns
// a frame. `free(_:)` returns it when it became empty, except in a dying
// frame, where it returns nil: the evictor owns a dying frame, and the flush
// callback (which reaches `free(_:)` through tmem) releases no memory.
//
// COUNTERS (`ZBudStats`, as the kernel's zbud debugfs counters): zbytes and
// zpages count live buds (stored size, owner included, as zbud.c does);
// buddied/unbuddied count live and zombie frames by bud count; pageframes
// counts frames taken from the caller and not yet returned (dying included);
// evictedPageframes counts frames returned by eviction (ephemeral) or by the
// last free of a zombie (persistent).
//
// LOCKING. One `Lock` per class guards all of the above but the busy bits'
// clearing by finishCreate (an atomic AND, taken under a TMem bucket lock by
// ZCache); every operation is a short critical section. Frame bytes are written outside the lock by the
// creator (the frame is busy, so no one else writes that bud) and read under
// it (copyOut). ZBud calls nothing while holding its lock; the flush callback
// runs with no ZBud lock held. Lock order of the project, ZBud's part:
//   TMem bucket lock -> ZBud class lock      (ZCache's copyOut/free under a bucket)
//   ZBud and PageFramePool locks are never held together.

import PageFrames
import Synchronization
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The zbud allocator of one class: frames holding up to two buds, with
/// matching, LRU eviction (ephemeral) and zombies for writeback (persistent).
///
/// ZBud allocates no frames: the caller supplies new frames and gets empty
/// ones back. Thread-safe.
public final class ZBud: @unchecked Sendable {
    /// Bytes per chunk.
    public static let chunkSize = 64
    /// Chunks per frame.
    public static let chunksPerFrame = 64
    /// Bytes of the owner handle in front of each bud's data.
    public static let ownerSize = 32
    /// The most chunks one bud may take.
    public static let maxBudChunks = 63
    /// The largest zpage a bud can hold: 63 chunks less the owner handle.
    public static let maxZPageSize = maxBudChunks * chunkSize - ownerSize

    /// The class of pages this instance holds.
    public let budClass: ZBudClass
    /// The number of frames its metadata covers (the pool's frame count).
    public let frameCount: Int

    let lock = Lock()
    /// Guarded by `lock`.
    let frames: UnsafeMutablePointer<FrameState>
    /// Guarded by `lock`: unbuddied[1...63] and buddied (64).
    let budLists: IndexLists
    /// Guarded by `lock`: lru (0) and zombie (1).
    let lruLists: IndexLists
    /// Guarded by `lock`.
    let counters: UnsafeMutablePointer<Counters>
    /// Per frame, bit b set while bud b is between create and finishCreate
    /// (`FrameFlags.busy(b)`). Atomic, so that `finishCreate` takes no lock:
    /// ZCache finishes a bud under a TMem bucket lock, where a second mutex
    /// would serialize stores. Set and read under `lock`; cleared by
    /// `finishCreate` without it.
    let busyBits: UnsafeMutablePointer<Atomic<UInt8>>
    /// The lazily committed memory behind `frames` and `busyBits`.
    private let framesRegion: ReservedRegion
    private let busyBitsRegion: ReservedRegion

    static let buddiedList = 64
    static let lruList = 0
    static let zombieList = 1

    /// Creates the allocator for `budClass`, with metadata for frames `0..<frameCount`.
    public init(class budClass: ZBudClass, frameCount: Int) {
        precondition(frameCount >= 0 && frameCount < 1 << 31, "frame count out of range")
        self.budClass = budClass
        self.frameCount = frameCount
        // Per-frame arrays sized for the whole pool cost memory only where a
        // frame has been used: all-zero bytes are an empty `FrameState` and a
        // clear busy byte.
        (framesRegion, frames) = ReservedRegion.array(of: FrameState.self, count: frameCount)
        (busyBitsRegion, busyBits) = ReservedRegion.array(of: Atomic<UInt8>.self, count: frameCount)
        budLists = IndexLists(nodeCount: frameCount, listCount: Self.buddiedList + 1)
        lruLists = IndexLists(nodeCount: frameCount, listCount: 2)
        counters = .allocate(capacity: 1)
        #if ZCACHE_INTERNAL_CHECKS
            counters.initialize(to: Counters(trapsOnMisuse: true))
        #else
            counters.initialize(to: Counters(trapsOnMisuse: false))
        #endif
    }

    /// Bytes of the per-frame metadata resident now, as the kernel reports them
    /// (`mincore`): what the arrays sized for the whole pool really cost.
    package var metadataResidentBytes: Int {
        framesRegion.residentBytes() + busyBitsRegion.residentBytes() + budLists.residentBytes
            + lruLists.residentBytes
    }

    deinit {
        counters.deinitialize(count: 1)
        counters.deallocate()
        lruLists.deallocate()
        budLists.deallocate()
    }

    /// The counters of this class, read at one instant.
    public var stats: ZBudStats { lock.withLock { counters.pointee.stats } }

    /// Whether a misuse (a free, read or finish of a bud that is not there)
    /// traps (the default in checked builds) or is only counted in
    /// `stats.invalidOperations`; tests of the counting path turn trapping off.
    package func setTrapsOnMisuse(_ traps: Bool) {
        lock.withLock { counters.pointee.trapsOnMisuse = traps }
    }
}

// MARK: - Layout

extension ZBud {
    /// The chunks a zpage of `dataSize` bytes takes with its owner handle, or
    /// nil when it is larger than `maxZPageSize` (or negative).
    @inline(__always)
    public static func chunks(forDataSize dataSize: Int) -> Int? {
        guard dataSize >= 0, dataSize <= maxZPageSize else { return nil }
        return chunks(storedSize: dataSize + ownerSize)
    }

    /// The byte offset in its frame of a bud (its owner handle first) holding
    /// `dataSize` bytes of data.
    @inline(__always)
    public static func budOffset(bud: Int, dataSize: Int) -> Int {
        precondition(bud == 0 || bud == 1, "a frame has buds 0 and 1")
        guard bud == 1, let chunks = chunks(forDataSize: dataSize) else { return 0 }
        return pageSize - chunks * chunkSize
    }

    @inline(__always)
    static func chunks(storedSize: Int) -> Int { (storedSize + chunkSize - 1) / chunkSize }

    @inline(__always)
    static func offset(bud: Int, storedSize: Int) -> Int {
        bud == 0 ? 0 : pageSize - chunks(storedSize: storedSize) * chunkSize
    }

    /// Writes the owner handle and data of a bud into its frame.
    @inline(__always)
    static func writeBud(
        owner: BudOwner, data: UnsafeRawBufferPointer, frame: UnsafeMutableRawPointer, bud: Int,
        storedSize: Int
    ) {
        let start = frame + offset(bud: bud, storedSize: storedSize)
        start.storeBytes(of: owner.w0, toByteOffset: 0, as: UInt64.self)
        start.storeBytes(of: owner.w1, toByteOffset: 8, as: UInt64.self)
        start.storeBytes(of: owner.w2, toByteOffset: 16, as: UInt64.self)
        start.storeBytes(of: owner.w3, toByteOffset: 24, as: UInt64.self)
        if let source = data.baseAddress, data.count > 0 {
            memcpy(start + ownerSize, source, data.count)
        }
    }

    /// Reads the owner handle of a bud from its frame.
    @inline(__always)
    static func readOwner(frame: UnsafeMutableRawPointer, bud: Int, storedSize: Int) -> BudOwner {
        let start = UnsafeRawPointer(frame + offset(bud: bud, storedSize: storedSize))
        return BudOwner(
            w0: start.load(fromByteOffset: 0, as: UInt64.self),
            w1: start.load(fromByteOffset: 8, as: UInt64.self),
            w2: start.load(fromByteOffset: 16, as: UInt64.self),
            w3: start.load(fromByteOffset: 24, as: UInt64.self))
    }
}

// MARK: - Misuse

extension ZBud {
    /// Counts a misuse and releases the lock (held on entry); traps when
    /// trapping is on.
    @inline(never)
    func reportMisuse(_ message: @autoclosure () -> String) {
        counters.pointee.stats.invalidOperations += 1
        let traps = counters.pointee.trapsOnMisuse
        lock.unlock()
        if traps { preconditionFailure(message()) }
    }
}

// MARK: - Per-frame and per-class state

/// The metadata of one frame. Guarded by its ZBud's lock.
struct FrameState {
    /// The frame's first byte, set when it is taken by `createInNewFrame`.
    var address: UnsafeMutableRawPointer? = nil
    /// Stored bytes (owner + data) of bud 0; 0 when empty.
    var size0: UInt16 = 0
    /// Stored bytes of bud 1; 0 when empty.
    var size1: UInt16 = 0
    var flags: FrameFlags = []

    @inline(__always)
    func size(_ bud: Int) -> Int { Int(bud == 0 ? size0 : size1) }

    @inline(__always)
    mutating func setSize(_ bud: Int, _ size: Int) {
        if bud == 0 { size0 = UInt16(size) } else { size1 = UInt16(size) }
    }

    @inline(__always)
    var budCount: Int { (size0 != 0 ? 1 : 0) + (size1 != 0 ? 1 : 0) }

    /// On the LRU and a bud list: in use, neither dying nor a zombie.
    @inline(__always)
    var isLive: Bool { flags.intersection([.inUse, .dying, .zombie]) == .inUse }
}

/// The state bits of a frame.
struct FrameFlags: OptionSet {
    let rawValue: UInt8

    /// Taken by `createInNewFrame` and not yet returned.
    static let inUse = FrameFlags(rawValue: 1)
    /// Being evicted: off every list, owned by the evictor.
    static let dying = FrameFlags(rawValue: 2)
    /// Being written back: on the zombie list only.
    static let zombie = FrameFlags(rawValue: 4)
    /// Bud 0 / bud 1 is between create and finishCreate. Kept in
    /// `ZBud.busyBits`, not in `FrameState.flags`.
    static let busy0 = FrameFlags(rawValue: 8)
    static let busy1 = FrameFlags(rawValue: 16)
    static let busy: FrameFlags = [.busy0, .busy1]
    /// A bud was added since the shrinker last looked at the frame (modern
    /// zswap's per-entry `referenced` bit, per frame here because zbud's LRU
    /// is per frame): the shrinker's second chance.
    static let referenced = FrameFlags(rawValue: 32)

    @inline(__always)
    static func busy(_ bud: Int) -> FrameFlags { bud == 0 ? .busy0 : .busy1 }
}

extension ZBud {
    /// Marks bud `bud` of frame `index` busy. Under the lock.
    @inline(__always)
    func setBusy(_ index: Int, _ bud: Int) {
        busyBits[index].bitwiseOr(FrameFlags.busy(bud).rawValue, ordering: .relaxed)
    }

    /// Clears bud `bud`'s busy bit; returns whether it was set.
    @inline(__always)
    @discardableResult
    func clearBusy(_ index: Int, _ bud: Int) -> Bool {
        let bit = FrameFlags.busy(bud).rawValue
        return busyBits[index].bitwiseAnd(~bit, ordering: .releasing).oldValue & bit != 0
    }

    /// The busy bits of frame `index` (`FrameFlags.busy0`, `.busy1`).
    @inline(__always)
    func busy(_ index: Int) -> FrameFlags {
        FrameFlags(rawValue: busyBits[index].load(ordering: .acquiring))
    }
}

/// Per-class mutable scalars. Guarded by the ZBud's lock.
struct Counters {
    var stats = ZBudStats()
    /// Bit k set iff unbuddied[k] is non-empty.
    var unbuddiedNonEmpty: UInt64 = 0
    var trapsOnMisuse: Bool
}
