// Zspages: starting one from a pool frame and attaching more as objects
// reach them, placing objects, the fullness lists, and copying object bytes
// across a frame boundary.

import PageFrames
import ZCacheSupport

/// The record of one pool frame (all zero: in no zspage). Fields marked
/// "head" mean something only in a zspage's first frame.
struct ZspageFrame {
    /// The zspage's first frame + 1 (0: the frame is in no zspage).
    var headPlusOne: UInt32 = 0
    /// The zspage's next frame + 1 (0: the last).
    var nextFramePlusOne: UInt32 = 0
    /// Head: the neighbours (+1) on the class's fullness list.
    var listPreviousPlusOne: UInt32 = 0
    var listNextPlusOne: UInt32 = 0
    /// Head: objects stored in the zspage.
    var inUse: UInt16 = 0
    /// Head: the first free object + 1 (0: none) of the objects already used once.
    var firstFreePlusOne: UInt16 = 0
    /// Head: objects from this index on were never used (their frames may not be attached yet).
    var neverUsed: UInt16 = 0
    /// Head: frames attached to the zspage so far.
    var attachedFrames: UInt8 = 0
    /// `position` in the low 4 bits, `fullness` in the high 4: one byte, so
    /// the record is 24 bytes, not 28.
    private var positionAndFullness: UInt8 = 0

    /// The frame's position in its zspage (0...15).
    var position: UInt8 {
        get { positionAndFullness & 0x0F }
        set { positionAndFullness = positionAndFullness & 0xF0 | newValue & 0x0F }
    }
    /// Head: the fullness group (0: on no list; at most 11).
    var fullness: UInt8 {
        get { positionAndFullness >> 4 }
        set { positionAndFullness = positionAndFullness & 0x0F | newValue << 4 }
    }
}

extension ZSmalloc {
    // MARK: Building and dropping zspages

    /// Takes a frame from the pool as the head of a new, empty zspage of
    /// `sizeClass`; nil when the pool has none. Further frames are attached as
    /// objects reach them (`allocateObject`), so a young zspage costs only the
    /// frames its objects use. Called with no lock held: the zspage is private
    /// until `store` publishes it under the class lock.
    func buildZspage(for sizeClass: SizeClass) -> Int? {
        guard let frame = pool.allocate() else { return nil }
        framesInUseCounter.add(1, ordering: .relaxed)
        let head = Int(frame.rawValue)
        var record = ZspageFrame()
        record.headPlusOne = UInt32(head + 1)
        record.attachedFrames = 1
        frameRecords[head] = record
        return head
    }

    /// Attaches pool frames to zspage `head` until it has `count`; false when
    /// the pool refuses one (the frames attached so far stay attached).
    private func attachFrames(to head: Int, upTo count: Int, of sizeClass: SizeClass) -> Bool {
        guard Int(frameRecords[head].attachedFrames) < count else { return true }
        var last = head
        while frameRecords[last].nextFramePlusOne != 0 {
            last = Int(frameRecords[last].nextFramePlusOne) - 1
        }
        while Int(frameRecords[head].attachedFrames) < count {
            guard let frame = pool.allocate() else { return false }
            let next = Int(frame.rawValue)
            var record = ZspageFrame()
            record.headPlusOne = UInt32(head + 1)
            record.position = frameRecords[head].attachedFrames
            frameRecords[next] = record
            frameRecords[last].nextFramePlusOne = UInt32(next + 1)
            frameRecords[head].attachedFrames += 1
            sizeClass.state.pointee.frames += 1
            framesInUseCounter.add(1, ordering: .relaxed)
            last = next
        }
        return true
    }

    /// Takes an empty (or never used) zspage off its list and collects its
    /// frames, their records cleared, for the caller to free after unlocking.
    func dropZspage(_ head: Int, of sizeClass: SizeClass, into frames: inout some FramesToFree) {
        if frameRecords[head].fullness != 0 { unlink(head, of: sizeClass) }
        sizeClass.state.pointee.zspages -= 1
        sizeClass.state.pointee.frames -= Int(frameRecords[head].attachedFrames)
        var frame = head
        while true {
            let next = Int(frameRecords[frame].nextFramePlusOne) - 1
            frameRecords[frame] = ZspageFrame()
            frames.append(PageFrameNumber(rawValue: UInt32(frame)))
            guard next >= 0 else { break }
            frame = next
        }
    }

    // MARK: Objects

    /// Takes a free object of zspage `head` for handle slot `slot` (a freed
    /// one first, else the next never used, attaching the frames it reaches),
    /// writes its header and regroups the zspage; returns where the object is,
    /// or nil when a frame it needs cannot be had.
    @inline(__always)
    func allocateObject(in head: Int, of sizeClass: SizeClass, slot: Int) -> (
        frame: Int, offset: Int, entry: UInt32
    )? {
        let object: Int
        if frameRecords[head].firstFreePlusOne != 0 {
            object = Int(frameRecords[head].firstFreePlusOne) - 1
        } else {
            object = Int(frameRecords[head].neverUsed)
            let end = (object + 1) * sizeClass.info.size
            guard attachFrames(to: head, upTo: (end + pageSize - 1) >> pageShift, of: sizeClass)
            else { return nil }
            frameRecords[head].neverUsed += 1
        }
        let (frame, offset) = location(ofObject: object, in: head, of: sizeClass)
        if frameRecords[head].firstFreePlusOne != 0 {
            // A freed object: its header links the rest of the free list.
            let freeHeader = header(frame: frame, offset: offset).pointee
            frameRecords[head].firstFreePlusOne = UInt16(freeHeader >> 1)
        }
        if !sizeClass.info.isHuge {
            header(frame: frame, offset: offset).pointee = UInt32(slot) << 1 | 1
        }
        frameRecords[head].inUse += 1
        regroup(head, of: sizeClass)
        return (frame, offset, HandleEntry.stored(frame: frame, offset: offset))
    }

    /// Puts `object` of zspage `head` on its free list and regroups the
    /// zspage; returns true when the zspage is now empty (the caller drops it).
    /// The caller passes where the object starts (it knows from the handle or
    /// its scan), so no walk along the zspage's frames is needed.
    @inline(__always)
    func releaseObject(
        _ object: Int, at frame: Int, offset: Int, in head: Int, of sizeClass: SizeClass
    ) -> Bool {
        if sizeClass.info.isHuge {
            // The only object: the zspage is now empty and will be dropped.
            frameRecords[head].firstFreePlusOne = 0
        } else {
            header(frame: frame, offset: offset).pointee =
                UInt32(frameRecords[head].firstFreePlusOne) << 1
            frameRecords[head].firstFreePlusOne = UInt16(object + 1)
        }
        frameRecords[head].inUse -= 1
        if frameRecords[head].inUse == 0 { return true }
        regroup(head, of: sizeClass)
        return false
    }

    /// The frame and offset where `object` of zspage `head` starts.
    @inline(__always)
    func location(ofObject object: Int, in head: Int, of sizeClass: SizeClass) -> (
        frame: Int, offset: Int
    ) {
        let start = object * sizeClass.info.size
        var frame = head
        for _ in 0..<(start >> pageShift) { frame = Int(frameRecords[frame].nextFramePlusOne) - 1 }
        return (frame, start & (pageSize - 1))
    }

    /// The index of the object starting at `offset` of `frame`.
    @inline(__always)
    func objectIndex(frame: Int, offset: Int, of sizeClass: SizeClass) -> Int {
        (Int(frameRecords[frame].position) * pageSize + offset) / sizeClass.info.size
    }

    /// The 4-byte header at the start of an object (never crosses a frame:
    /// objects start at multiples of 16).
    @inline(__always)
    func header(frame: Int, offset: Int) -> UnsafeMutablePointer<UInt32> {
        (pool.address(of: PageFrameNumber(rawValue: UInt32(frame))) + offset)
            .assumingMemoryBound(to: UInt32.self)
    }

    // MARK: Bytes across a frame boundary

    /// Copies `count` bytes starting at `offset` of `frame` (continuing into the
    /// zspage's next frame if they cross its end) to `destination`.
    @inline(__always)
    func copyOut(frame: Int, offset: Int, count: Int, to destination: UnsafeMutableRawPointer) {
        let source = pool.address(of: PageFrameNumber(rawValue: UInt32(frame)))
        let first = min(count, pageSize - offset)
        destination.copyMemory(from: source + offset, byteCount: first)
        if first < count {
            let next = Int(frameRecords[frame].nextFramePlusOne) - 1
            destination.advanced(by: first).copyMemory(
                from: pool.address(of: PageFrameNumber(rawValue: UInt32(next))),
                byteCount: count - first)
        }
    }

    /// Copies `data` to `offset` of `frame`, continuing into the next frame.
    @inline(__always)
    func copyIn(_ data: UnsafeRawBufferPointer, frame: Int, offset: Int) {
        guard let bytes = data.baseAddress else { return }
        copyIn(bytes, count: data.count, frame: frame, offset: offset)
    }

    @inline(__always)
    func copyIn(_ bytes: UnsafeRawPointer, count: Int, frame: Int, offset: Int) {
        let target = pool.address(of: PageFrameNumber(rawValue: UInt32(frame)))
        let first = min(count, pageSize - offset)
        (target + offset).copyMemory(from: bytes, byteCount: first)
        if first < count {
            let next = Int(frameRecords[frame].nextFramePlusOne) - 1
            pool.address(of: PageFrameNumber(rawValue: UInt32(next))).copyMemory(
                from: bytes + first, byteCount: count - first)
        }
    }

    // MARK: Fullness lists

    /// The fullness group for `inUse` of `capacity` objects: 0 empty, 1...10
    /// by tenths used (ZS_INUSE_RATIO_0 ... _99), 11 full.
    @inline(__always)
    static func fullnessGroup(inUse: Int, capacity: Int) -> Int {
        if inUse == 0 { return 0 }
        if inUse == capacity { return fullGroup }
        return inUse * 100 / capacity / 10 + 1
    }

    /// Moves zspage `head` to the list its fullness now calls for.
    @inline(__always)
    func regroup(_ head: Int, of sizeClass: SizeClass) {
        let group = Self.fullnessGroup(
            inUse: Int(frameRecords[head].inUse), capacity: sizeClass.info.objectsPerZspage)
        let current = Int(frameRecords[head].fullness)
        guard group != current else { return }
        if current != 0 { unlink(head, of: sizeClass) }
        if group != 0 { link(head, to: group, of: sizeClass) }
    }

    /// Puts zspage `head` at the front of fullness list `group`.
    func link(_ head: Int, to group: Int, of sizeClass: SizeClass) {
        let first = sizeClass.fullnessHeads[group]
        frameRecords[head].listPreviousPlusOne = 0
        frameRecords[head].listNextPlusOne = first
        if first != 0 { frameRecords[Int(first) - 1].listPreviousPlusOne = UInt32(head + 1) }
        sizeClass.fullnessHeads[group] = UInt32(head + 1)
        frameRecords[head].fullness = UInt8(group)
        sizeClass.fullnessCounts[group] += 1
    }

    /// Takes zspage `head` off its fullness list.
    func unlink(_ head: Int, of sizeClass: SizeClass) {
        let group = Int(frameRecords[head].fullness)
        let previous = frameRecords[head].listPreviousPlusOne
        let next = frameRecords[head].listNextPlusOne
        if previous != 0 {
            frameRecords[Int(previous) - 1].listNextPlusOne = next
        } else {
            sizeClass.fullnessHeads[group] = next
        }
        if next != 0 { frameRecords[Int(next) - 1].listPreviousPlusOne = previous }
        frameRecords[head].listPreviousPlusOne = 0
        frameRecords[head].listNextPlusOne = 0
        frameRecords[head].fullness = 0
        sizeClass.fullnessCounts[group] -= 1
    }

    /// The first zspage of the fullest non-full list (other than `excluded`).
    func fullestPartialZspage(of sizeClass: SizeClass, excluding excluded: Int?) -> Int? {
        for group in stride(from: Self.fullGroup - 1, through: 1, by: -1) {
            var candidate = sizeClass.fullnessHeads[group]
            while candidate != 0 {
                let head = Int(candidate) - 1
                if head != excluded { return head }
                candidate = frameRecords[head].listNextPlusOne
            }
        }
        return nil
    }

    /// The first zspage of the emptiest non-empty, non-full list.
    func emptiestPartialZspage(of sizeClass: SizeClass) -> Int? {
        for group in 1..<Self.fullGroup where sizeClass.fullnessHeads[group] != 0 {
            return Int(sizeClass.fullnessHeads[group]) - 1
        }
        return nil
    }
}

/// Where frames taken off zspages under a class lock wait until the lock is
/// dropped and they go back to the pool (`ZSmalloc.freeFrames`).
protocol FramesToFree: Collection<PageFrameNumber> {
    mutating func append(_ frame: PageFrameNumber)
}

/// Compaction's: any number of zspages.
extension Array: FramesToFree where Element == PageFrameNumber {}

/// A single free's: it empties at most one zspage, whose frames (at most 16,
/// the longest zspage) are kept inline, so a store, load or free that drops
/// a zspage allocates nothing.
struct OneZspageFrames: FramesToFree, RandomAccessCollection {
    private var frames = InlineArray<16, PageFrameNumber>(repeating: PageFrameNumber(rawValue: 0))
    private(set) var endIndex = 0

    var startIndex: Int { 0 }

    subscript(position: Int) -> PageFrameNumber {
        precondition(position < endIndex, "OneZspageFrames: index out of range")
        return frames[position]
    }

    /// Traps past 16 frames (InlineArray's bounds check): one zspage at most.
    mutating func append(_ frame: PageFrameNumber) {
        frames[endIndex] = frame
        endIndex += 1
    }
}
