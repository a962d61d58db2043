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
    /// Stored compressed in the allocator.
    case stored
    /// The page is all zero bytes: stored as a sentinel, using no pageframe.
    case storedZeroFilled
    /// The page is one non-zero 8-byte word repeated: stored as that word,
    /// using no pageframe.
    case storedSameFilled
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
        if let word = sameFilledWord(page), let handle = store.sameFilledHandle(word) {
            do throws(ZCacheError) {
                try insert(handle, at: key)
            } catch {
                store.sameFilled.release(handle.sameFilledSlot)
                throw error
            }
            // Counted once the old page of the key is gone (as the kernel's
            // duplicate put flushes first), so the maximum stays true.
            counters.sameFilledPages.add(1)
            if word == 0 {
                counters.zeroFilledPages.add(1)
                return .storedZeroFilled
            }
            return .storedSameFilled
        }
        let zbudClass: ZBudClass = kind == .ephemeral ? .ephemeral : .persistent
        let allocator = store.allocator(zbudClass)
        let prefix = store.keyPrefixSize(key)
        // The policy's bound, or all an allocator with a huge class can hold.
        let storesIncompressible = configuration.storeIncompressible && allocator.frameLRU == nil
        let bound =
            storesIncompressible
            ? allocator.maxObjectSize - prefix
            : kind == .ephemeral ? ZCache.maxEphemeralZSize : ZCache.maxPersistentZSize
        return try ThreadScratchPage.with(byteCount: prefix + bound) {
            (buffer) throws(ZCacheError) -> PutResult in
            let output = UnsafeMutableRawBufferPointer(rebasing: buffer[prefix...])
            guard let size = compressor.compress(page, into: output, bound: bound) else {
                counters.compressPoor.increment()
                return try decline(key, .compressPoor, kind: kind)
            }
            let policyBound =
                kind == .ephemeral ? ZCache.maxEphemeralZSize : ZCache.maxPersistentZSize
            if size > policyBound {
                counters.incompressibleStored.increment()
            } else if kind == .persistent && size > ZCache.maxMeanPersistentZSize {
                let zpages = counters.persZPages.value
                if zpages > 0 && counters.persZBytes.value / zpages > ZCache.maxMeanPersistentZSize
                {
                    counters.meanCompressPoor.increment()
                    return try decline(key, .meanCompressPoor, kind: kind)
                }
            }
            let owner = BudOwner(key)
            if let base = buffer.baseAddress, prefix > 0 { StoredKey.store(key, at: base) }
            let data = UnsafeRawBufferPointer(rebasing: buffer[..<(prefix + size)])
            guard let allocation = allocate(zbudClass, owner: owner, data: data) else {
                return try decline(key, .noMemory, kind: kind)
            }
            let handle = ZPageHandle(allocation: allocation, class: zbudClass, size: size)
            do throws(TMemError) {
                // Finished (zbud) and linked on the per-entry LRU under the
                // bucket lock, before any other thread can reach it by its key.
                try tmem.put(key, handle: handle) { store.published(handle) }
            } catch {
                // Never published: free it (zbud cancels the unfinished bud).
                store.cancel(handle)
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

    /// Finds room for a zpage in its class's allocator (zbud: pair it in an
    /// unbuddied frame, else a new frame; zsmalloc: its size class), else
    /// evicts LRU ephemeral memory until the allocation succeeds (bounded).
    /// The object stays unreachable to evictors until `published`.
    private func allocate(_ zbudClass: ZBudClass, owner: BudOwner, data: UnsafeRawBufferPointer)
        -> UInt32?
    {
        let allocator = store.allocator(zbudClass)
        if let allocation = allocator.allocate(data, owner: owner) { return allocation }
        counters.failedAlloc.increment()
        guard
            let allocation = retryEvictingEphemeral({ allocator.allocate(data, owner: owner) })
        else {
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
        return allocation
    }
}
