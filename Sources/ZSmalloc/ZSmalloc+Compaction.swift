// Compaction (the kernel's zs_compact / __zs_compact), class by class.
//
// While a class holds more frames than an ideal repacking of its objects
// would (`freeableFrames`, zs_can_compact for lazily attached zspages), move the objects of its emptiest zspage into its fullest
// other zspage; a source left empty is freed. Each move copies the object's
// slot (header included) through a buffer, since either end may cross a frame
// boundary, and points the object's handle-table entry at the new place, so
// handles stay valid. A destination may attach a frame to take an object
// (zspages attach frames as objects reach them); those count against the
// frames freed, so `compact()` and `pagesCompacted` are net. Last, the
// partial zspages left are packed in place and their frames past the objects
// detached (`trimPartialZspages`). The class lock is dropped every few zspages to free the
// collected frames and let readers in; nothing is isolated between steps, so
// the next step starts again from the lists.

import PageFrames
import ZCacheSupport

extension ZSmalloc {
    /// Frames compaction could give back in `sizeClass` now: its frames less
    /// those an ideal repacking of its objects would take (whole zspages,
    /// then a last one with only the frames its objects reach). The kernel's
    /// zs_can_compact counts whole zspages of free slots only, which is the
    /// same when every zspage is fully attached; here zspages attach frames
    /// as objects reach them, so with long zspages (8-16 frames) the whole-zspage
    /// rule would leave up to a zspage's worth of frames per class unfreed.
    func freeableFrames(of sizeClass: SizeClass) -> Int {
        let info = sizeClass.info
        let objects = sizeClass.state.pointee.objectsInUse
        let lastObjects = objects % info.objectsPerZspage
        let ideal =
            objects / info.objectsPerZspage * info.framesPerZspage
            + (lastObjects * info.size + pageSize - 1) / pageSize
        return max(0, sizeClass.state.pointee.frames - ideal)
    }

    /// Compacts every class; returns the frames given back to the pool (net of
    /// the frames destinations attached to take the moved objects).
    public func compact() -> Int {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { scratch.deallocate() }
        var freed = 0
        for sizeClass in distinctClasses where !sizeClass.info.isHuge {
            freed += compact(sizeClass, scratch: scratch)
        }
        return freed
    }

    /// Compacts one class.
    private func compact(_ sizeClass: SizeClass, scratch: UnsafeMutableRawPointer) -> Int {
        /// Source zspages emptied between two releases of the lock.
        let sourcesPerHold = 16
        var freed = 0
        var done = false
        while !done {
            var emptied: [PageFrameNumber] = []
            sizeClass.lock.lock()
            for _ in 0..<sourcesPerHold {
                guard freeableFrames(of: sizeClass) > 0,
                    let source = emptiestPartialZspage(of: sizeClass)
                else {
                    done = true
                    break
                }
                var attached = 0
                let moved = migrate(
                    from: source, of: sizeClass, scratch: scratch, framesAttached: &attached)
                sizeClass.state.pointee.pagesCompacted -= attached
                freed -= attached
                guard moved else {
                    done = true  // no room, or no frame, elsewhere
                    break
                }
                let emptiedBefore = emptied.count
                dropZspage(source, of: sizeClass, into: &emptied)
                sizeClass.state.pointee.pagesCompacted += emptied.count - emptiedBefore
            }
            if done, freeableFrames(of: sizeClass) > 0 {
                trimPartialZspages(of: sizeClass, scratch: scratch, into: &emptied)
            }
            sizeClass.lock.unlock()
            freeFrames(emptied)
            freed += emptied.count
        }
        return freed
    }

    /// Packs the objects of each partial zspage of `sizeClass` into its
    /// lowest object slots and detaches the frames left past them. Moving
    /// objects between zspages leaves the class's last partial zspages with
    /// their objects spread over every frame they ever reached (up to 16);
    /// the kernel attaches a zspage's frames all at once and never needs
    /// this. Under the class lock; the detached frames go into `emptied`.
    private func trimPartialZspages(
        of sizeClass: SizeClass, scratch: UnsafeMutableRawPointer,
        into emptied: inout [PageFrameNumber]
    ) {
        let info = sizeClass.info
        for group in 1..<Self.fullGroup {
            var next = sizeClass.fullnessHeads[group]
            while next != 0 {
                let head = Int(next) - 1
                next = frameRecords[head].listNextPlusOne
                let inUse = Int(frameRecords[head].inUse)
                let needed = max(1, (inUse * info.size + pageSize - 1) / pageSize)
                guard Int(frameRecords[head].attachedFrames) > needed else { continue }
                // Every object at or past `inUse` moves to a free slot below it.
                var hole = 0
                for object in inUse..<Int(frameRecords[head].neverUsed) {
                    let (frame, offset) = location(ofObject: object, in: head, of: sizeClass)
                    let slotHeader = header(frame: frame, offset: offset).pointee
                    guard slotHeader & 1 != 0 else { continue }
                    var target: (frame: Int, offset: Int)
                    repeat {
                        target = location(ofObject: hole, in: head, of: sizeClass)
                        hole += 1
                    } while header(frame: target.frame, offset: target.offset).pointee & 1 != 0
                    copyOut(frame: frame, offset: offset, count: info.size, to: scratch)
                    copyIn(scratch, count: info.size, frame: target.frame, offset: target.offset)
                    sizeClass.handles[Int(slotHeader >> 1)] = HandleEntry.stored(
                        frame: target.frame, offset: target.offset)
                }
                // Objects 0..<inUse are all stored now: no free list, and
                // nothing past them was used.
                frameRecords[head].firstFreePlusOne = 0
                frameRecords[head].neverUsed = UInt16(inUse)
                var last = head
                for _ in 1..<needed { last = Int(frameRecords[last].nextFramePlusOne) - 1 }
                var frame = Int(frameRecords[last].nextFramePlusOne) - 1
                frameRecords[last].nextFramePlusOne = 0
                while frame >= 0 {
                    let following = Int(frameRecords[frame].nextFramePlusOne) - 1
                    frameRecords[frame] = ZspageFrame()
                    emptied.append(PageFrameNumber(rawValue: UInt32(frame)))
                    frame = following
                }
                let detached = Int(frameRecords[head].attachedFrames) - needed
                frameRecords[head].attachedFrames = UInt8(needed)
                sizeClass.state.pointee.frames -= detached
                sizeClass.state.pointee.pagesCompacted += detached
            }
        }
    }

    /// Moves the objects of zspage `source` into the fullest other zspages,
    /// until it is empty (returns true: the caller drops it) or no other
    /// zspage has room (false); counts the frames destinations attached.
    /// Under the class lock.
    private func migrate(
        from source: Int, of sizeClass: SizeClass, scratch: UnsafeMutableRawPointer,
        framesAttached: inout Int
    ) -> Bool {
        let info = sizeClass.info
        for object in 0..<Int(frameRecords[source].neverUsed) {
            let (frame, offset) = location(ofObject: object, in: source, of: sizeClass)
            let slotHeader = header(frame: frame, offset: offset).pointee
            guard slotHeader & 1 != 0 else { continue }  // a free slot
            guard let destination = fullestPartialZspage(of: sizeClass, excluding: source) else {
                return false
            }
            let slot = Int(slotHeader >> 1)
            copyOut(frame: frame, offset: offset, count: info.size, to: scratch)
            let attachedBefore = frameRecords[destination].attachedFrames
            guard let moved = allocateObject(in: destination, of: sizeClass, slot: slot) else {
                return false  // no frame to extend the destination: stop here
            }
            framesAttached += Int(frameRecords[destination].attachedFrames - attachedBefore)
            copyIn(scratch, count: info.size, frame: moved.frame, offset: moved.offset)
            sizeClass.handles[slot] = moved.entry
            if releaseObject(object, at: frame, offset: offset, in: source, of: sizeClass) {
                return true
            }
        }
        preconditionFailure("ZSmalloc: zspage \(source) counted objects it does not hold")
    }
}
