// Two-phase creation of a bud: match-or-create, then finishCreate.

extension ZBud {
    /// Puts a zpage into the fullest unbuddied frame it still fits in (oldest
    /// such frame first), making the frame buddied and most recently used.
    ///
    /// Copies `owner` and `data` into the bud. The frame stays busy (never
    /// evicted or zombified) until `finishCreate`.
    /// - Returns: the new bud, or nil when no unbuddied frame has room or
    ///   `data` is larger than `maxZPageSize`.
    public func createInMatchingFrame(owner: BudOwner, data: UnsafeRawBufferPointer) -> ZBudRef? {
        guard let chunks = Self.chunks(forDataSize: data.count) else { return nil }
        let storedSize = data.count + Self.ownerSize
        lock.lock()
        // Lists 1...(64 - chunks) hold frames with room; take the fullest.
        let candidates = counters.pointee.unbuddiedNonEmpty & (UInt64.max >> (chunks - 1))
        guard candidates != 0 else {
            lock.unlock()
            return nil
        }
        let list = 63 - candidates.leadingZeroBitCount
        guard let index = budLists.first(list) else {
            preconditionFailure("ZBud: unbuddied[\(list)] marked non-empty but empty")
        }
        budLists.remove(index)
        if budLists.isEmpty(list) { counters.pointee.unbuddiedNonEmpty &= ~(1 << UInt64(list)) }
        budLists.append(index, to: Self.buddiedList)
        lruLists.moveToTail(index, of: Self.lruList)
        let bud = frames[index].size0 == 0 ? 0 : 1
        frames[index].setSize(bud, storedSize)
        frames[index].flags.insert(.referenced)
        setBusy(index, bud)
        counters.pointee.stats.unbuddiedCount -= 1
        counters.pointee.stats.buddiedCount += 1
        countCreated(storedSize: storedSize)
        let address = frames[index].address
        #if ZCACHE_INTERNAL_CHECKS
            checkFrame(index)
        #endif
        lock.unlock()
        guard let address else { preconditionFailure("ZBud: live frame without an address") }
        // Outside the lock: the bud is busy and unpublished, so no one else touches it.
        Self.writeBud(owner: owner, data: data, frame: address, bud: bud, storedSize: storedSize)
        return ZBudRef(frame: PageFrameNumber(rawValue: UInt32(index)), bud: bud)
    }

    /// Puts a zpage into bud 0 of `frame`, a frame just taken from the pool
    /// (or returned by `evictLRU`), whose 4096 bytes start at `address`.
    ///
    /// Copies `owner` and `data` into the bud. The frame becomes unbuddied and
    /// most recently used, and stays busy until `finishCreate`.
    /// - Precondition: `data.count <= maxZPageSize` (check with
    ///   `chunks(forDataSize:)`), and `frame` is not in use by this ZBud.
    public func createInNewFrame(
        _ frame: PageFrameNumber, address: UnsafeMutableRawPointer, owner: BudOwner,
        data: UnsafeRawBufferPointer
    ) -> ZBudRef {
        guard let chunks = Self.chunks(forDataSize: data.count) else {
            preconditionFailure("ZBud: zpage of \(data.count) bytes exceeds \(Self.maxZPageSize)")
        }
        let index = Int(frame.rawValue)
        precondition(index < frameCount, "ZBud: \(frame) is outside the pool")
        let storedSize = data.count + Self.ownerSize
        // Before publishing the frame: no one else can reach it yet.
        Self.writeBud(owner: owner, data: data, frame: address, bud: 0, storedSize: storedSize)
        lock.lock()
        precondition(!frames[index].flags.contains(.inUse), "ZBud: \(frame) is already in use")
        frames[index] = FrameState(
            address: address, size0: UInt16(storedSize), size1: 0, flags: [.inUse, .referenced])
        setBusy(index, 0)
        budLists.append(index, to: chunks)
        counters.pointee.unbuddiedNonEmpty |= 1 << UInt64(chunks)
        lruLists.append(index, to: Self.lruList)
        counters.pointee.stats.pageframes += 1
        counters.pointee.stats.unbuddiedCount += 1
        countCreated(storedSize: storedSize)
        #if ZCACHE_INTERNAL_CHECKS
            checkFrame(index)
        #endif
        lock.unlock()
        return ZBudRef(frame: frame, bud: 0)
    }

    /// Ends the creation of `ref`: its frame may be evicted or zombified again
    /// (once no other create on it is pending).
    ///
    /// Takes no lock (one atomic operation), so it may run under a TMem bucket
    /// lock; the caller must make sure the bud was not freed meanwhile (ZCache
    /// finishes it as TMem publishes its key, before anyone can free it).
    @inline(__always)
    public func finishCreate(_ ref: ZBudRef) {
        let index = Int(ref.frame.rawValue)
        guard index < frameCount, clearBusy(index, ref.bud) else {
            lock.lock()
            return reportMisuse("ZBud: finishCreate of \(ref), which is not being created")
        }
    }

    /// Counts a bud just created. Under the lock.
    @inline(__always)
    private func countCreated(storedSize: Int) {
        counters.pointee.stats.zpages += 1
        counters.pointee.stats.zbytes += storedSize
        counters.pointee.stats.cumulZpages += 1
        counters.pointee.stats.cumulZbytes += storedSize
    }
}
