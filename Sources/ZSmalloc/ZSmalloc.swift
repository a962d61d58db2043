// ZSmalloc: a size-class allocator for compressed pages, after the kernel's
// mm/zsmalloc.c. Objects of 1...4096 bytes are packed into zspages without a
// gap; an object may cross from one frame of its zspage into the next.
//
// SIZE CLASSES (ZSmalloc+Classes.swift). Slots of 32, 48, ..., 4096 bytes.
// Each class chains 1...maxFramesPerZspage (default 16) frames into a zspage,
// choosing the length that wastes least; lower classes that would get the same
// frames and objects per zspage are merged into the class above them. A store
// of n bytes takes a slot of the class serving n + 4 (the object header); a
// class of one object in one frame is huge: its object takes the whole frame
// with no header, so any page up to 4096 bytes can be stored.
//
// A ZSPAGE of class 208 (3 frames, 59 objects; the last 16 bytes unused):
//
//   frame A (head)            frame B                   frame C
//   +----+----+-- ... --+--+  +--+----+-- ... --+----+  +--- ... ---+----+--+
//   |o0  |o1  |         |o1|  |9 |o20 |         |o39 |  |           |o58 |  |
//   +----+----+-- ... --+--+  +--+----+-- ... --+----+  +--- ... ---+----+--+
//                          `- o19 crosses from A into B: read in two copies
//
//   every used object slot starts with a 4-byte header:
//     allocated: slot << 1 | 1     (its handle-table slot: compaction finds the handle)
//     free:      (next free + 1) << 1   (0: last)  -- the zspage's free list
//
// FRAMES ON DEMAND. Unlike the kernel, which allocates a zspage's frames at
// once, a zspage starts with its head frame and attaches the next frame when
// the first object reaching it is stored (objects never used lie past the
// `neverUsed` mark, off the free list). So the last, partly filled zspage of
// each class costs only the frames its objects use: with ~150 classes in
// use, that is worth about 5 % of a small pool.
//
// PER-FRAME RECORDS (`ZspageFrame`, one per pool frame, in a lazily committed
// array): every frame of a zspage names its head frame, its position and the
// next frame (the kernel keeps these in struct page). The head frame's record
// is the zspage's: objects in use, first free object, never-used mark, frames
// attached, fullness group, and the links of its fullness list.
//
// HANDLES (indirect, so objects can move). `ZsHandle` = class << 24 | slot;
// slot s of the class's handle table holds where the object is now:
//     1 << 31 | frame << 8 | offset-in-frame / 16
// (objects start at multiples of 16 bytes). Free slots form a list through
// the table; slots above the high-water mark were never used (not resident).
//
// FULLNESS GROUPS. Per class, zspages are on one of 11 lists by fraction in
// use: 0-9 %, 10-19 %, ... 90-99 %, full (the kernel's ZS_INUSE_RATIO_*). A
// store takes the first zspage of the fullest non-full list, and builds a new
// zspage only when there is none, so partly used zspages fill up first. A
// zspage whose last object is freed goes back to the pool at once.
//
// SLOT BORROWING (not in the kernel). When an object's own class has no
// partial zspage, it takes a free slot of a partial zspage of a class at
// most `borrowingReach` (32) bytes larger, if one has one, before starting a
// zspage of its own. A class's last zspage leaves on average half a frame
// unused past its last object, and with 16-frame zspages about 150 classes
// are in use: in a pool of a few thousand objects that is 4-5 % of the frames,
// while a borrowed slot costs at most 32 bytes. In a large pool every class
// has partial zspages and nothing is borrowed. The handle names the class the
// object is in, so reads, frees and compaction do not know it was borrowed.
//
// COMPACTION (ZSmalloc+Compaction.swift), per class, while the class holds
// more frames than an ideal repacking of its objects would: take the
// emptiest zspage (source) and the fullest other one (destination), move the
// source's objects into the destination (copying the slot, header included,
// and rewriting the handle's table entry), and free the source's frames once
// it is empty; then pack each partial zspage left in place and detach its
// frames past the last object. Only objects and handle-table entries move;
// handles stay valid. Huge classes never compact (a zspage of one object is
// never partly empty).
//
// LOCKING. One `Lock` per class guards its lists, its zspages' records, its
// objects' bytes and its handle table. A read locks only the class its handle
// names: there is no pool-wide lock on the read, store or free path. A new
// zspage's head frame is taken with no class lock held, then published under
// it; frames attached later are taken under the class lock (the pool lock is
// a leaf, and `allocate` makes no system call); frames are given back to the
// pool (which may madvise) only after the class lock is dropped.
// Lock order: a class lock, then the pool lock.

import PageFrames
import Synchronization
import ZCacheSupport

/// The zsmalloc allocator over frames of a `PageFramePool`. Thread-safe.
public final class ZSmalloc: @unchecked Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The longest zspage, in frames (the kernel's ZS_MAX_PAGES_PER_ZSPAGE), 1...16.
        /// 16, the largest CONFIG_ZSMALLOC_CHAIN_SIZE the kernel allows (its
        /// default since 6.6 is 8): longer zspages waste less at the end of
        /// each and raise the huge watermark. Objects of ~2 KB, common in heaps,
        /// fit 31 to 16 frames but only 15 to 8 (5 % lost).
        public var maxFramesPerZspage = 16
        /// How much larger (bytes) a slot an object may borrow from a class
        /// above its own when its own class has no free slot (SLOT BORROWING);
        /// 0: never, as the kernel.
        public var borrowingReach = 32
        public init() {}
    }

    /// The largest object: one page.
    public static let maxObjectSize = pageSize
    /// Bytes in front of each non-huge object: its handle-table slot.
    static let headerSize = 4
    /// Fullness groups: [0] unused (empty zspages are freed), 1...10 by tenths, 11 full.
    static let fullnessGroups = 12
    static let fullGroup = 11
    /// Frame numbers must fit the handle-table entry's 23 bits.
    public static let maxPoolFrames = 1 << 23

    public let pool: PageFramePool
    public let configuration: Configuration
    /// For every slot index, the class serving it (merged indices share one).
    let classes: [SizeClass]
    /// The classes after merging, ascending by size.
    let distinctClasses: [SizeClass]
    /// One record per pool frame; a record is touched under the lock of the
    /// class whose zspage holds the frame.
    let frameRecords: UnsafeMutablePointer<ZspageFrame>
    let frameRecordsRegion: ReservedRegion
    let handleTablesRegion: ReservedRegion

    let framesInUseCounter = Atomic<Int>(0)
    let noMemoryCounter = Atomic<Int>(0)
    let invalidFreeCounter = Atomic<Int>(0)
    let trapsOnInvalidFree: Atomic<Bool>

    /// An allocator taking its frames from `pool` (the pool may be shared with
    /// other users; ZSmalloc frees exactly the frames it allocated).
    public init(pool: PageFramePool, configuration: Configuration = .init()) {
        precondition(
            (1...16).contains(configuration.maxFramesPerZspage), "1...16 frames per zspage")
        precondition(configuration.borrowingReach >= 0, "ZSmalloc: negative borrowing reach")
        precondition(pool.frameCount <= Self.maxPoolFrames, "ZSmalloc: at most 2^23 frames")
        self.pool = pool
        self.configuration = configuration
        (frameRecordsRegion, frameRecords) = ReservedRegion.array(
            of: ZspageFrame.self, count: pool.frameCount)

        let table = Self.buildClassTable(maxFramesPerZspage: configuration.maxFramesPerZspage)
        // Each class's handle table can name every object its share of the
        // pool could hold (up to 2^24), reserved lazily in one region; each
        // table starts on its own cache line.
        var offsets: [Int] = []
        var capacities: [Int] = []
        var bytes = 0
        for info in table.classes {
            // Each frame starts at most 4096 / size + 1 objects.
            let most = max(1, pool.frameCount) * (pageSize / info.size + 1)
            let capacity = min(1 << ZsHandle.slotBits, most)
            offsets.append(bytes)
            capacities.append(capacity)
            bytes += (capacity * 4 + 63) & ~63
        }
        let handles: UnsafeMutablePointer<UInt32>
        (handleTablesRegion, handles) = ReservedRegion.array(of: UInt32.self, count: bytes / 4)
        var byIndex = [SizeClass?](repeating: nil, count: Self.classCount)
        var distinct: [SizeClass] = []
        for (k, info) in table.classes.enumerated() {
            let sizeClass = SizeClass(
                info: info, handles: handles + offsets[k] / 4, handleCapacity: capacities[k])
            byIndex[info.index] = sizeClass
            distinct.append(sizeClass)
        }
        classes = table.servingClass.map { byIndex[$0]! }
        distinctClasses = distinct
        // Each class, then the classes above it within the borrowing reach
        // (huge classes lend nothing: a slot there is a whole frame).
        for (position, sizeClass) in distinct.enumerated() {
            var order = [position]
            if !sizeClass.info.isHuge {
                for above in distinct.indices.dropFirst(position + 1)
                where !distinct[above].info.isHuge
                    && distinct[above].info.size - sizeClass.info.size
                        <= configuration.borrowingReach
                {
                    order.append(above)
                }
            }
            sizeClass.placementOrder = order
        }
        #if ZCACHE_INTERNAL_CHECKS
            trapsOnInvalidFree = Atomic(true)
        #else
            trapsOnInvalidFree = Atomic(false)
        #endif
    }

    /// The class that stores objects of `count` bytes.
    @inline(__always)
    func sizeClass(forDataSize count: Int) -> SizeClass {
        classes[Self.slotIndex(forBytes: count + Self.headerSize)]
    }

    /// The class a handle names, if it names one (a merged-away index does not).
    @inline(__always)
    func sizeClass(of handle: ZsHandle) -> SizeClass? {
        let index = handle.classIndex
        guard index < Self.classCount else { return nil }
        let sizeClass = classes[index]
        guard sizeClass.info.index == index, handle.slot < sizeClass.handleCapacity else {
            return nil
        }
        return sizeClass
    }

    // MARK: - The interface (zs_malloc + write, read, free)

    /// zs_malloc + write: stores `data` (1...maxObjectSize bytes) and returns its
    /// handle; `.noMemory` when no frame can be had for a new zspage.
    public func store(_ data: UnsafeRawBufferPointer) throws(ZSmallocError) -> ZsHandle {
        let count = data.count
        guard count > 0 else { throw .zeroSize }
        guard count <= Self.maxObjectSize else { throw .tooLarge(count) }
        let sizeClass = sizeClass(forDataSize: count)
        // The fullest partial zspage of the object's own class, else of a
        // class at most `borrowingReach` bytes larger (SLOT BORROWING above).
        for position in sizeClass.placementOrder {
            let candidate = distinctClasses[position]
            candidate.lock.lock()
            if let head = fullestPartialZspage(of: candidate, excluding: nil) {
                return try place(data, in: head, of: candidate)
            }
            candidate.lock.unlock()
        }
        // Else a new zspage of its own class: built with no lock held, then
        // published under the class lock.
        guard let built = buildZspage(for: sizeClass) else {
            noMemoryCounter.add(1, ordering: .relaxed)
            throw .noMemory
        }
        sizeClass.lock.lock()
        sizeClass.state.pointee.zspages += 1
        sizeClass.state.pointee.frames += 1
        return try place(data, in: built, of: sizeClass)
    }

    /// Stores `data` in a free object of zspage `head` of `sizeClass`, whose
    /// lock the caller holds; unlocks it. `.noMemory`, keeping nothing, when
    /// the object needs a frame the pool does not have.
    private func place(_ data: UnsafeRawBufferPointer, in head: Int, of sizeClass: SizeClass)
        throws(ZSmallocError) -> ZsHandle
    {
        let slot = sizeClass.allocateSlot()
        let location = slot.flatMap { allocateObject(in: head, of: sizeClass, slot: $0) }
        guard let slot, let location else {
            // No handle slot, or no frame for the object: undo, keep nothing.
            if let slot { sizeClass.freeSlot(slot) }
            var emptied = OneZspageFrames()
            if frameRecords[head].inUse == 0 { dropZspage(head, of: sizeClass, into: &emptied) }
            sizeClass.lock.unlock()
            freeFrames(emptied)
            noMemoryCounter.add(1, ordering: .relaxed)
            throw .noMemory
        }
        sizeClass.handles[slot] = location.entry
        let header = sizeClass.info.isHuge ? 0 : Self.headerSize
        copyIn(data, frame: location.frame, offset: location.offset + header)
        sizeClass.state.pointee.objectsInUse += 1
        sizeClass.state.pointee.objectsStoredTotal += 1
        sizeClass.lock.unlock()
        return ZsHandle(classIndex: sizeClass.info.index, slot: slot)
    }

    /// Copies the object's first `size` bytes into `buffer` under the class
    /// lock; false for a handle that names no stored object, or a `size` larger
    /// than the object's slot or the buffer.
    public func read(_ handle: ZsHandle, size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Bool
    {
        guard let sizeClass = sizeClass(of: handle) else { return false }
        sizeClass.lock.lock()
        defer { sizeClass.lock.unlock() }
        return copyOut(handle, of: sizeClass, size: size, into: buffer)
    }

    /// Copies the object's first bytes, up to `size` or the end of its slot
    /// (so at least all its bytes when they are fewer; the rest is the slot's
    /// slack), into `buffer` under the class lock; returns how many. For a
    /// prefix whose length the caller learns from the bytes. Nil for a handle
    /// that names no stored object.
    public func readHead(
        _ handle: ZsHandle, upTo size: Int, into buffer: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard let sizeClass = sizeClass(of: handle) else { return nil }
        let header = sizeClass.info.isHuge ? 0 : Self.headerSize
        let count = max(0, min(size, buffer.count, sizeClass.info.size - header))
        sizeClass.lock.lock()
        defer { sizeClass.lock.unlock() }
        return copyOut(handle, of: sizeClass, size: count, into: buffer) ? count : nil
    }

    /// `read` and `free` under one hold of the class lock (zswap's load with
    /// exclusive loads, writeback). False, and nothing freed, for a bad handle.
    public func readAndFree(
        _ handle: ZsHandle, size: Int, into buffer: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard let sizeClass = sizeClass(of: handle) else { return false }
        var emptied = OneZspageFrames()
        sizeClass.lock.lock()
        guard copyOut(handle, of: sizeClass, size: size, into: buffer) else {
            sizeClass.lock.unlock()
            return false
        }
        freeObject(handle, of: sizeClass, into: &emptied)
        sizeClass.lock.unlock()
        freeFrames(emptied)
        return true
    }

    /// zs_free. A handle that names no stored object (a double free) is
    /// counted in `invalidFrees`, and traps in checked builds.
    public func free(_ handle: ZsHandle) {
        var emptied = OneZspageFrames()
        var freed = false
        if let sizeClass = sizeClass(of: handle) {
            sizeClass.lock.lock()
            if sizeClass.isStored(slot: handle.slot) {
                freeObject(handle, of: sizeClass, into: &emptied)
                freed = true
            }
            sizeClass.lock.unlock()
        }
        guard freed else {
            invalidFreeCounter.add(1, ordering: .relaxed)
            if trapsOnInvalidFree.load(ordering: .relaxed) {
                preconditionFailure("ZSmalloc: free of \(handle), which names no object")
            }
            return
        }
        freeFrames(emptied)
    }

    /// Frames held by zspages now.
    public var framesInUse: Int { framesInUseCounter.load(ordering: .relaxed) }

    /// Whether a free of a bad handle traps (the default in checked builds).
    package func setTrapsOnInvalidFree(_ traps: Bool) {
        trapsOnInvalidFree.store(traps, ordering: .relaxed)
    }

    // MARK: - Under the class lock

    /// Copies `size` data bytes of the object `handle` names into `buffer`.
    @inline(__always)
    private func copyOut(
        _ handle: ZsHandle, of sizeClass: SizeClass, size: Int,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> Bool {
        let header = sizeClass.info.isHuge ? 0 : Self.headerSize
        guard size >= 0, size <= buffer.count, size <= sizeClass.info.size - header,
            sizeClass.isStored(slot: handle.slot), let destination = buffer.baseAddress
        else { return false }
        let entry = sizeClass.handles[handle.slot]
        copyOut(
            frame: HandleEntry.frame(entry), offset: HandleEntry.offset(entry) + header,
            count: size, to: destination)
        return true
    }

    /// Frees the stored object `handle` names (known valid).
    @inline(__always)
    private func freeObject(
        _ handle: ZsHandle, of sizeClass: SizeClass, into emptied: inout OneZspageFrames
    ) {
        let entry = sizeClass.handles[handle.slot]
        let frame = HandleEntry.frame(entry)
        let head = Int(frameRecords[frame].headPlusOne) - 1
        let offset = HandleEntry.offset(entry)
        let object = objectIndex(frame: frame, offset: offset, of: sizeClass)
        sizeClass.freeSlot(handle.slot)
        sizeClass.state.pointee.objectsInUse -= 1
        if releaseObject(object, at: frame, offset: offset, in: head, of: sizeClass) {
            dropZspage(head, of: sizeClass, into: &emptied)
        }
    }

    /// Gives frames back to the pool, with no class lock held.
    @inline(__always)
    func freeFrames(_ frames: some FramesToFree) {
        guard !frames.isEmpty else { return }
        for frame in frames { pool.free(frame) }
        framesInUseCounter.subtract(frames.count, ordering: .relaxed)
    }
}

/// One size class: its table entry, its lock, and the state the lock guards.
final class SizeClass: @unchecked Sendable {
    let info: ZSmallocClassInfo
    let lock = Lock()
    /// Guarded by `lock`: the handle table (see `HandleEntry`).
    let handles: UnsafeMutablePointer<UInt32>
    let handleCapacity: Int
    /// Positions in `ZSmalloc.distinctClasses` where a store looks for a
    /// partial zspage, in order: this class, then those it may borrow a slot
    /// from. Set once, before the allocator is shared.
    var placementOrder: [Int] = []
    /// Guarded by `lock`: the head frame (+1; 0: empty) of each fullness list.
    let fullnessHeads: UnsafeMutablePointer<UInt32>
    /// Guarded by `lock`: zspages on each fullness list.
    let fullnessCounts: UnsafeMutablePointer<Int>
    /// Guarded by `lock`.
    let state: UnsafeMutablePointer<State>

    struct State {
        /// The first free handle slot (+1; 0: none below the high-water mark).
        var freeSlotPlusOne: UInt32 = 0
        /// Slots at and above this were never handed out.
        var slotHighWater = 0
        var zspages = 0
        /// Frames attached to the class's zspages.
        var frames = 0
        var objectsInUse = 0
        var objectsStoredTotal = 0
        var pagesCompacted = 0
    }

    init(info: ZSmallocClassInfo, handles: UnsafeMutablePointer<UInt32>, handleCapacity: Int) {
        self.info = info
        self.handles = handles
        self.handleCapacity = handleCapacity
        fullnessHeads = .allocate(capacity: ZSmalloc.fullnessGroups)
        fullnessHeads.initialize(repeating: 0, count: ZSmalloc.fullnessGroups)
        fullnessCounts = .allocate(capacity: ZSmalloc.fullnessGroups)
        fullnessCounts.initialize(repeating: 0, count: ZSmalloc.fullnessGroups)
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        fullnessHeads.deallocate()
        fullnessCounts.deallocate()
        state.deallocate()
    }

    /// Takes a free handle slot (reusing freed ones first); nil when full.
    @inline(__always)
    func allocateSlot() -> Int? {
        if state.pointee.freeSlotPlusOne != 0 {
            let slot = Int(state.pointee.freeSlotPlusOne) - 1
            state.pointee.freeSlotPlusOne = handles[slot]
            return slot
        }
        guard state.pointee.slotHighWater < handleCapacity else { return nil }
        state.pointee.slotHighWater += 1
        return state.pointee.slotHighWater - 1
    }

    /// Puts `slot` on the free-slot list.
    @inline(__always)
    func freeSlot(_ slot: Int) {
        handles[slot] = state.pointee.freeSlotPlusOne
        state.pointee.freeSlotPlusOne = UInt32(slot + 1)
    }

    /// Whether `slot` holds a stored object's location.
    @inline(__always)
    func isStored(slot: Int) -> Bool {
        slot < state.pointee.slotHighWater && HandleEntry.isStored(handles[slot])
    }
}

/// A handle-table entry: `1 << 31 | frame << 8 | offset / 16` for a stored
/// object; a free slot holds the next free slot + 1 (bit 31 clear).
enum HandleEntry {
    static let storedBit: UInt32 = 1 << 31

    @inline(__always)
    static func stored(frame: Int, offset: Int) -> UInt32 {
        storedBit | UInt32(frame) << 8 | UInt32(offset >> 4)
    }
    @inline(__always)
    static func isStored(_ entry: UInt32) -> Bool { entry & storedBit != 0 }
    @inline(__always)
    static func frame(_ entry: UInt32) -> Int { Int((entry & ~storedBit) >> 8) }
    @inline(__always)
    static func offset(_ entry: UInt32) -> Int { Int(entry & 0xFF) << 4 }
}
