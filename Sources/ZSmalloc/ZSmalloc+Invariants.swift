// Internal consistency checks, compiled in under ZCACHE_INTERNAL_CHECKS (debug
// builds, which `swift test` builds), like ZBud's.

import ZCacheSupport

extension ZSmalloc {
    /// Checks every class (each under its lock) and the frame count.
    package func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            var frames = 0
            for sizeClass in distinctClasses {
                frames += sizeClass.lock.withLock { checkClass(sizeClass) }
            }
            precondition(
                frames == framesInUse,
                "zsmalloc: zspages hold \(frames) frames, counted \(framesInUse)")
        #endif
    }

    /// Checks the class that `handle` names (cheaper than all of them).
    package func checkInvariants(classOf handle: ZsHandle) {
        #if ZCACHE_INTERNAL_CHECKS
            if let sizeClass = sizeClass(of: handle) {
                _ = sizeClass.lock.withLock { checkClass(sizeClass) }
            }
        #endif
    }

    /// Checks the classes a store of `count` bytes may touch: its own and
    /// those it may borrow a slot from.
    package func checkInvariants(classForDataSize count: Int) {
        #if ZCACHE_INTERNAL_CHECKS
            let own = sizeClass(forDataSize: max(1, min(count, Self.maxObjectSize)))
            for position in own.placementOrder {
                let sizeClass = distinctClasses[position]
                _ = sizeClass.lock.withLock { checkClass(sizeClass) }
            }
        #endif
    }

    #if ZCACHE_INTERNAL_CHECKS
        /// Lists, zspage records, free lists, headers and the handle table of one
        /// class agree; returns the frames its zspages hold. Under the class lock.
        private func checkClass(_ sizeClass: SizeClass) -> Int {
            let info = sizeClass.info
            let state = sizeClass.state.pointee
            var zspages = 0
            var frames = 0
            var objects = 0
            var storedAt = Set<UInt32>()  // handle-table entries the headers imply
            for group in 1..<Self.fullnessGroups {
                var previous = 0
                var next = sizeClass.fullnessHeads[group]
                var onList = 0
                while next != 0 {
                    let head = Int(next) - 1
                    let record = frameRecords[head]
                    precondition(
                        record.headPlusOne == UInt32(head + 1),
                        "zsmalloc: \(head) on a list is no head")
                    precondition(
                        Int(record.listPreviousPlusOne) == previous, "zsmalloc: broken back link")
                    precondition(
                        Int(record.fullness) == group, "zsmalloc: zspage on the wrong list")
                    let inUse = Int(record.inUse)
                    precondition(
                        Self.fullnessGroup(inUse: inUse, capacity: info.objectsPerZspage) == group,
                        "zsmalloc: \(inUse)/\(info.objectsPerZspage) objects in group \(group)")
                    // The frame chain: the frames the used objects reach (at
                    // least the head; one more if attaching the next failed).
                    let neverUsed = Int(record.neverUsed)
                    let attached = Int(record.attachedFrames)
                    let reached = max(1, (neverUsed * info.size + pageSize - 1) / pageSize)
                    let reachedNext = max(
                        1, ((neverUsed + 1) * info.size + pageSize - 1) / pageSize)
                    precondition(neverUsed <= info.objectsPerZspage, "zsmalloc: never-used mark")
                    precondition(
                        attached >= reached && attached <= min(reachedNext, info.framesPerZspage),
                        "zsmalloc: \(attached) frames attached for \(neverUsed) objects used")
                    var frame = head
                    for position in 0..<attached {
                        precondition(
                            frame >= 0 && frame < pool.frameCount, "zsmalloc: chain leaves the pool"
                        )
                        precondition(
                            Int(frameRecords[frame].headPlusOne) == head + 1,
                            "zsmalloc: frame of another zspage")
                        precondition(
                            Int(frameRecords[frame].position) == position,
                            "zsmalloc: bad frame position")
                        let nextFrame = Int(frameRecords[frame].nextFramePlusOne) - 1
                        precondition(
                            (nextFrame < 0) == (position == attached - 1), "zsmalloc: chain length")
                        frame = nextFrame
                    }
                    frames += attached
                    // The free list and the headers of stored objects.
                    if info.isHuge {
                        precondition(
                            inUse == 1 && neverUsed == 1 && record.firstFreePlusOne == 0,
                            "zsmalloc: huge zspage state")
                        storedAt.insert(HandleEntry.stored(frame: head, offset: 0))
                    } else {
                        var free = Set<Int>()
                        var cursor = Int(record.firstFreePlusOne) - 1
                        while cursor >= 0 {
                            precondition(cursor < neverUsed, "zsmalloc: free object out of range")
                            precondition(
                                free.insert(cursor).inserted, "zsmalloc: cycle in a free list")
                            let (f, o) = location(ofObject: cursor, in: head, of: sizeClass)
                            let value = header(frame: f, offset: o).pointee
                            precondition(value & 1 == 0, "zsmalloc: stored object on the free list")
                            cursor = Int(value >> 1) - 1
                        }
                        precondition(free.count == neverUsed - inUse, "zsmalloc: free count")
                        for object in 0..<neverUsed where !free.contains(object) {
                            let (f, o) = location(ofObject: object, in: head, of: sizeClass)
                            let value = header(frame: f, offset: o).pointee
                            precondition(value & 1 == 1, "zsmalloc: object neither free nor stored")
                            let slot = Int(value >> 1)
                            precondition(
                                slot < state.slotHighWater
                                    && sizeClass.handles[slot]
                                        == HandleEntry.stored(frame: f, offset: o),
                                "zsmalloc: handle slot \(slot) does not point back at its object")
                            storedAt.insert(HandleEntry.stored(frame: f, offset: o))
                        }
                    }
                    objects += inUse
                    onList += 1
                    previous = head + 1
                    next = record.listNextPlusOne
                    precondition(onList <= pool.frameCount, "zsmalloc: cycle in a fullness list")
                }
                precondition(onList == sizeClass.fullnessCounts[group], "zsmalloc: list count")
                zspages += onList
            }
            precondition(
                zspages == state.zspages,
                "zsmalloc: \(zspages) zspages listed, \(state.zspages) counted")
            precondition(objects == state.objectsInUse, "zsmalloc: objects in use")
            // Handle table: stored entries are exactly the objects; free slots chain.
            var stored = 0
            for slot in 0..<state.slotHighWater where HandleEntry.isStored(sizeClass.handles[slot])
            {
                precondition(
                    storedAt.contains(sizeClass.handles[slot]),
                    "zsmalloc: slot \(slot) points at no object")
                stored += 1
            }
            precondition(stored == objects, "zsmalloc: \(stored) handles for \(objects) objects")
            var freeSlots = 0
            var slot = Int(state.freeSlotPlusOne) - 1
            while slot >= 0 {
                precondition(
                    slot < state.slotHighWater, "zsmalloc: free slot above the high-water mark")
                precondition(
                    !HandleEntry.isStored(sizeClass.handles[slot]),
                    "zsmalloc: stored slot on the free list")
                freeSlots += 1
                precondition(
                    freeSlots <= state.slotHighWater, "zsmalloc: cycle in the free-slot list")
                slot = Int(sizeClass.handles[slot]) - 1
            }
            precondition(freeSlots + stored == state.slotHighWater, "zsmalloc: slots lost")
            precondition(
                frames == state.frames,
                "zsmalloc: \(frames) frames attached, \(state.frames) counted")
            return frames
        }
    #endif
}
