import TMem
import ZBud
import ZCacheSupport

/// Why zcache declined to store a page. A declined frontswap store must be
/// written to the swap device by the caller.
public enum PutRejection: String, Sendable, Equatable, Codable {
    /// The cache is frozen; the put was turned into a flush.
    case frozen
    /// The page was never on the active list and the not-active filter is on.
    case nonActive
    /// It compressed to more than the class allows (4000 bytes ephemeral, 3584 persistent).
    case compressPoor
    /// It compressed to more than 2560 bytes while the mean persistent zsize is above 2560.
    case meanCompressPoor
    /// No pageframe could be had: the pool is empty and no ephemeral frame could be evicted.
    case noMemory
    /// The pool reached `maxPoolPercent` of host RAM and has not yet fallen
    /// below `acceptThresholdPercent` of it (counted in `pool_limit_hit`).
    case poolLimit
}

/// What a put did.
public enum PutResult: Sendable, Equatable {
    /// Stored compressed in a zbud frame.
    case stored
    /// The page is all zero bytes: stored as a sentinel, using no pageframe.
    case storedZeroFilled
    /// Not stored; whatever the key held before was flushed.
    case rejected(PutRejection)

    /// Whether the page is now in the cache.
    public var isStored: Bool {
        if case .rejected = self { return false }
        return true
    }
}

extension ZCache {
    /// The one put path under every front end.
    func putPage(
        _ key: TMemKey, kind: PoolKind, page: UnsafeRawBufferPointer, wasActive: Bool
    ) throws(ZCacheError) -> PutResult {
        guard page.count == pageSize else { throw badInput(.pageNotOnePage(page.count)) }
        let ignoreNonActive =
            kind == .ephemeral
            ? configuration.ignoreNonActiveEphemeralPuts
            : configuration.ignoreNonActivePersistentPuts
        if ignoreNonActive && !wasActive {
            if kind == .ephemeral {
                counters.ephNonactivePutsIgnored.increment()
            } else {
                counters.persNonactivePutsIgnored.increment()
            }
            return try decline(key, .nonActive, kind: kind)
        }
        if frozen.load(ordering: .relaxed) {
            counters.putToFlush.increment()
            return try decline(key, .frozen, kind: kind)
        }
        if poolLimitRefusesPut() { return try decline(key, .poolLimit, kind: kind) }
        if isZeroFilled(page) {
            let tag = store.zeroFilledTags.wrappingAdd(1, ordering: .relaxed).newValue
            try insert(.zeroFilled(tag: tag), at: key)
            // Counted once the old page of the key is gone (as the kernel's
            // duplicate put flushes first), so the maximum stays true.
            counters.zeroFilledPages.add(1)
            return .storedZeroFilled
        }
        let zbudClass: ZBudClass = kind == .ephemeral ? .ephemeral : .persistent
        let bound = kind == .ephemeral ? ZCache.maxEphemeralZSize : ZCache.maxPersistentZSize
        return try withUnsafeTemporaryAllocation(byteCount: bound, alignment: 16) {
            (buffer) throws(ZCacheError) -> PutResult in
            guard let size = compressor.compress(page, into: buffer, bound: bound) else {
                counters.compressPoor.increment()
                return try decline(key, .compressPoor, kind: kind)
            }
            if kind == .persistent && size > ZCache.maxMeanPersistentZSize {
                let zpages = counters.persZPages.value
                if zpages > 0 && counters.persZBytes.value / zpages > ZCache.maxMeanPersistentZSize
                {
                    counters.meanCompressPoor.increment()
                    return try decline(key, .meanCompressPoor, kind: kind)
                }
            }
            let data = UnsafeRawBufferPointer(rebasing: buffer[..<size])
            let owner = BudOwner(key)
            guard let ref = allocateBud(zbudClass, owner: owner, data: data) else {
                return try decline(key, .noMemory, kind: kind)
            }
            let handle = ZPageHandle(ref, class: zbudClass, size: size)
            let zbud = store.zbud(zbudClass)
            do throws(TMemError) {
                // The bud is finished (may be evicted, read, freed) under the
                // bucket lock, before any other thread can reach it by its key.
                try tmem.put(key, handle: handle) { zbud.finishCreate(ref) }
            } catch {
                // Never published: free the unfinished bud (zbud cancels it).
                store.freeBud(ref, zbudClass)
                throw badInput(.tmem(error))
            }
            // Counted once the key's old page is gone, so the maxima stay true
            // (a racing get may briefly take the level below the truth).
            counters.addZPage(1, bytes: size, zbudClass)
            return .stored
        }
    }

    /// Puts `handle` at `key`; errors for unknown pools.
    private func insert(_ handle: ZPageHandle, at key: TMemKey) throws(ZCacheError) {
        try tmemCall { () throws(TMemError) in try tmem.put(key, handle: handle) }
    }

    /// A put that stores nothing flushes the key, so an older page stored
    /// there can never be returned in place of the one just refused.
    private func decline(_ key: TMemKey, _ reason: PutRejection, kind: PoolKind)
        throws(ZCacheError) -> PutResult
    {
        switch reason {
        case .frozen, .nonActive, .poolLimit: break
        case .compressPoor, .meanCompressPoor, .noMemory:
            if kind == .ephemeral {
                counters.failedEphPuts.increment()
            } else {
                counters.failedPersPuts.increment()
            }
        }
        _ = try tmemCall { () throws(TMemError) in try tmem.flushPage(key, counted: false) }
        return .rejected(reason)
    }

    /// Finds room for a zpage: pair it in an unbuddied frame of its class, else a
    /// new frame from the pool, else the LRU ephemeral frame (evicted). The frame
    /// stays busy until the caller's `finishCreate`, so it cannot be evicted
    /// before TMem knows the handle.
    private func allocateBud(_ zbudClass: ZBudClass, owner: BudOwner, data: UnsafeRawBufferPointer)
        -> ZBudRef?
    {
        if let ref = store.zbud(zbudClass).createInMatchingFrame(owner: owner, data: data) {
            return ref
        }
        if let frame = store.pool.allocate() {
            return store.create(inNewFrame: frame, zbudClass, owner: owner, data: data)
        }
        counters.failedAlloc.increment()
        guard let frame = evictEphemeralFrame() else {
            if zbudClass == .ephemeral {
                counters.ephAteTailFailed.increment()
            } else {
                counters.persAteEphFailed.increment()
            }
            return nil
        }
        if zbudClass == .ephemeral {
            counters.ephAteTail.increment()
        } else {
            counters.persAteEph.increment()
        }
        return store.create(inNewFrame: frame, zbudClass, owner: owner, data: data)
    }
}

/// Whether every byte of the page is zero (v3.10's `page_is_zero_filled`).
@inline(__always)
func isZeroFilled(_ page: UnsafeRawBufferPointer) -> Bool {
    guard let base = page.baseAddress else { return false }
    let words = page.count / 8
    var accumulated: UInt64 = 0
    var index = 0
    // Eight words per step, checked once per step: cheap on non-zero pages
    // (which almost always differ in the first 64 bytes) and fast on zero ones.
    while index < words {
        for offset in 0..<8 {
            accumulated |= base.loadUnaligned(fromByteOffset: (index + offset) * 8, as: UInt64.self)
        }
        if accumulated != 0 { return false }
        index += 8
    }
    return true
}
