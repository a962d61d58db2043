// Compaction (the kernel's zs_compact / __zs_compact), class by class.
//
// While a class's free slots add up to at least one whole zspage
// (zs_can_compact), move the objects of its emptiest zspage into its fullest
// other zspage; a source left empty is freed. Each move copies the object's
// slot (header included) through a buffer, since either end may cross a frame
// boundary, and points the object's handle-table entry at the new place, so
// handles stay valid. A destination may attach a frame to take an object
// (zspages attach frames as objects reach them); those count against the
// frames freed, so `compact()` and `pagesCompacted` are net. The class lock is dropped every few zspages to free the
// collected frames and let readers in; nothing is isolated between steps, so
// the next step starts again from the lists.

import PageFrames
import ZCacheSupport

extension ZSmalloc {
    /// Frames compaction could give back in `sizeClass` now (zs_can_compact).
    func freeableFrames(of sizeClass: SizeClass) -> Int {
        let info = sizeClass.info
        let allocated = sizeClass.state.pointee.zspages * info.objectsPerZspage
        let wastedZspages =
            (allocated - sizeClass.state.pointee.objectsInUse) / info.objectsPerZspage
        return wastedZspages * info.framesPerZspage
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
            sizeClass.lock.unlock()
            freeFrames(emptied)
            freed += emptied.count
        }
        return freed
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
