// Taking whole frames back: ephemeral eviction and persistent zombies.

extension ZBud {
    /// Evicts the least recently used ephemeral frame that is not busy.
    ///
    /// Marks it dying and takes it off every list (its buds' counters drop
    /// now), releases the lock, calls `flush` once per bud so tmem forgets it
    /// (tmem's flush calls `free(_:)` on this frame, which releases nothing),
    /// then returns the emptied frame, counted as evicted. The caller frees or
    /// reuses it exactly once.
    /// - Returns: the frame, or nil when every frame is busy or there is none.
    public func evictLRU(flush: (BudOwner, ZBudRef) -> Void) -> PageFrameNumber? {
        precondition(budClass == .ephemeral, "ZBud: only ephemeral frames are evicted")
        lock.lock()
        guard let index = takeLRUFrame() else {
            lock.unlock()
            return nil
        }
        frames[index].flags.insert(.dying)
        let victims = budsOf(index)
        counters.pointee.stats.zpages -= victims.count
        counters.pointee.stats.zbytes -= victims.storedBytes
        if victims.count == 2 {
            counters.pointee.stats.buddiedCount -= 1
        } else {
            counters.pointee.stats.unbuddiedCount -= 1
        }
        #if ZCACHE_INTERNAL_CHECKS
            checkFrame(index)
        #endif
        lock.unlock()

        for victim in victims { flush(victim.owner, victim.ref) }

        lock.lock()
        frames[index] = FrameState()
        counters.pointee.stats.pageframes -= 1
        counters.pointee.stats.evictedPageframes += 1
        lock.unlock()
        return PageFrameNumber(rawValue: UInt32(index))
    }

    /// Makes the least recently used persistent frame that is not busy a
    /// zombie, for writeback, and returns its (one or two) buds.
    ///
    /// The zombie leaves the LRU and bud lists for the zombie list: it is never
    /// matched or evicted, its data stays readable with `copyOut`, and each bud
    /// is freed by the normal `free(_:)`, which returns the frame once both
    /// are gone. Returns no buds when no frame qualifies.
    public func zombifyLRU() -> FrameBuds {
        precondition(budClass == .persistent, "ZBud: only persistent frames become zombies")
        lock.lock()
        guard let index = takeLRUFrame() else {
            lock.unlock()
            return FrameBuds()
        }
        frames[index].flags.insert(.zombie)
        lruLists.append(index, to: Self.zombieList)
        counters.pointee.stats.zombieCount += 1
        let buds = budsOf(index)
        #if ZCACHE_INTERNAL_CHECKS
            checkFrame(index)
        #endif
        lock.unlock()
        return buds
    }

    /// Gives referenced frames at the LRU end a second chance, as modern
    /// zswap's shrinker does per entry (`shrink_memcg_cb`: referenced ->
    /// clear the bit, rotate): clears the bit of each such frame and moves it
    /// to the most recently used end, until the LRU frame that is not busy is
    /// unreferenced or `limit` frames were rotated. Returns how many were
    /// rotated; a following `zombifyLRU` takes the unreferenced frame.
    public func rotateReferencedLRU(limit: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        var rotated = 0
        var candidate = lruLists.first(Self.lruList)
        while rotated < limit, let index = candidate {
            candidate = lruLists.after(index)
            guard busy(index).isEmpty else { continue }
            guard frames[index].flags.contains(.referenced) else { break }
            frames[index].flags.remove(.referenced)
            lruLists.moveToTail(index, of: Self.lruList)
            rotated += 1
        }
        return rotated
    }

    /// Takes the least recently used frame that is not busy off the LRU and
    /// bud lists and returns it. Under the lock.
    private func takeLRUFrame() -> Int? {
        var candidate = lruLists.first(Self.lruList)
        while let index = candidate, !busy(index).isEmpty {
            candidate = lruLists.after(index)
        }
        guard let index = candidate else { return nil }
        lruLists.remove(index)
        if frames[index].budCount == 2 {
            budLists.remove(index)
        } else {
            let storedSize = max(frames[index].size0, frames[index].size1)
            removeFromBudList(index, chunks: Self.chunks(storedSize: Int(storedSize)))
        }
        return index
    }

    /// The buds of frame `index`, bud 0 first. Under the lock.
    private func budsOf(_ index: Int) -> FrameBuds {
        let frame = frames[index]
        guard let address = frame.address else {
            preconditionFailure("ZBud: live frame without an address")
        }
        var buds = FrameBuds()
        for bud in 0..<2 where frame.size(bud) != 0 {
            let size = frame.size(bud)
            let entry = (
                owner: Self.readOwner(frame: address, bud: bud, storedSize: size),
                ref: ZBudRef(frame: PageFrameNumber(rawValue: UInt32(index)), bud: bud)
            )
            buds.append(entry, storedSize: size)
        }
        return buds
    }
}

/// The buds of one frame (none, one or two) in bud order, without a heap
/// allocation: a writeback or an eviction of a frame allocates nothing to
/// name its victims.
public struct FrameBuds: RandomAccessCollection, Sendable {
    public typealias Element = (owner: BudOwner, ref: ZBudRef)

    private var firstBud: Element? = nil
    private var secondBud: Element? = nil
    public private(set) var count = 0
    /// Bytes of the buds as stored.
    private(set) var storedBytes = 0

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> Element {
        precondition((0..<count).contains(position), "FrameBuds: index \(position) out of range")
        // Both are set below `count`.
        return position == 0 ? firstBud.unsafelyUnwrapped : secondBud.unsafelyUnwrapped
    }

    mutating func append(_ bud: Element, storedSize: Int) {
        precondition(count < 2, "FrameBuds: a frame holds two buds")
        if count == 0 { firstBud = bud } else { secondBud = bud }
        count += 1
        storedBytes += storedSize
    }
}
