// Freeing a bud, and the ownership rule for dying frames.

extension ZBud {
    /// Frees the bud `ref`.
    ///
    /// - Returns: the frame when it became empty; the caller frees it to the
    ///   pool exactly once. Nil when the frame still holds a bud, or when it is
    ///   dying: then the evictor owns it and this free releases nothing (the
    ///   path `evictLRU -> flush -> tmem -> free` of the seed's question).
    ///   When misuse is not trapping, a free of a bud that is not there is
    ///   counted in `stats.invalidOperations` and returns nil.
    @inline(__always)
    public func free(_ ref: ZBudRef) -> PageFrameNumber? {
        let index = Int(ref.frame.rawValue)
        lock.lock()
        guard index < frameCount, frames[index].size(ref.bud) != 0 else {
            reportMisuse("ZBud: free of \(ref), which holds no bud (double free?)")
            return nil
        }
        let frame = freeHoldingLock(ref)
        lock.unlock()
        return frame
    }

    /// `free` of a bud known to be there, with the class lock held (and still
    /// held on return).
    @inline(__always)
    func freeHoldingLock(_ ref: ZBudRef) -> PageFrameNumber? {
        let index = Int(ref.frame.rawValue)
        let bud = ref.bud
        let storedSize = frames[index].size(bud)
        frames[index].setSize(bud, 0)
        let flags = frames[index].flags
        if flags.contains(.dying) {
            // The evictor owns the frame and already dropped the counters.
            return nil
        }
        // A free of a bud still being created abandons the create.
        clearBusy(index, bud)
        counters.pointee.stats.zpages -= 1
        counters.pointee.stats.zbytes -= storedSize
        let otherSize = frames[index].size(1 - bud)
        let isZombie = flags.contains(.zombie)
        if otherSize == 0 {
            // Was unbuddied: the frame is empty and goes back to the caller.
            if isZombie {
                lruLists.remove(index)
                counters.pointee.stats.zombieCount -= 1
                counters.pointee.stats.evictedPageframes += 1
            } else {
                removeFromBudList(index, chunks: Self.chunks(storedSize: storedSize))
                lruLists.remove(index)
            }
            counters.pointee.stats.unbuddiedCount -= 1
            counters.pointee.stats.pageframes -= 1
            frames[index] = FrameState()
            #if ZCACHE_INTERNAL_CHECKS
                checkFrame(index)
            #endif
            return ref.frame
        }
        // Was buddied: the remaining bud makes it unbuddied; the LRU place stays.
        if !isZombie {
            budLists.remove(index)
            let chunks = Self.chunks(storedSize: otherSize)
            budLists.append(index, to: chunks)
            counters.pointee.unbuddiedNonEmpty |= 1 << UInt64(chunks)
        }
        counters.pointee.stats.buddiedCount -= 1
        counters.pointee.stats.unbuddiedCount += 1
        #if ZCACHE_INTERNAL_CHECKS
            checkFrame(index)
        #endif
        return nil
    }

    /// Takes a live unbuddied frame off unbuddied[chunks]. Under the lock.
    @inline(__always)
    func removeFromBudList(_ index: Int, chunks: Int) {
        budLists.remove(index)
        if budLists.isEmpty(chunks) { counters.pointee.unbuddiedNonEmpty &= ~(1 << UInt64(chunks)) }
    }
}
