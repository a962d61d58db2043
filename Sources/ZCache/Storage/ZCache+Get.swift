import TMem
import ZBud
import ZCacheSupport

extension ZCache {
    /// What the TMem read callback found, copied out under the bucket lock.
    private enum Found {
        case sameFilled(UInt64)
        case compressed(Int)
    }

    /// The one get path under every front end. Returns whether the page was found.
    ///
    /// Under the TMem bucket lock only the compressed bytes are copied out (and
    /// the bud freed when the get removes the key); decompression happens after
    /// every lock is dropped.
    func getPage(
        _ key: TMemKey, into page: UnsafeMutableRawBufferPointer, ifHandle: ZPageHandle? = nil,
        forceRemove: Bool = false
    ) throws(ZCacheError) -> Bool {
        guard page.count == pageSize else { throw badInput(.pageNotOnePage(page.count)) }
        // Big enough for any allocator's object (zbud's 4000 bytes, zsmalloc's page).
        return try ThreadScratchPage.with(byteCount: pageSize) {
            (scratch) throws(ZCacheError) -> Bool in
            let found: Found?
            let keyPrefixSize = store.keyPrefixSize(key)
            do throws(TMemError) {
                found = try tmem.get(key, ifHandle: ifHandle, forceRemove: forceRemove) {
                    handle, removed -> Found? in
                    if handle.isSameFilled {
                        let word = store.sameFilled.word(handle.sameFilledSlot)
                        if removed { store.release(handle) }
                        return .sameFilled(word)
                    }
                    // false: the frame is being evicted; the get misses.
                    guard
                        store.copyOut(
                            handle, keyPrefixSize: keyPrefixSize, into: scratch, release: removed)
                    else { return nil }
                    return .compressed(handle.size)
                }
            } catch {
                throw badInput(.tmem(error))
            }
            switch found {
            case nil:
                return false
            case .sameFilled(let word):
                fill(page, with: word)
                return true
            case .compressed(let size):
                let start = keyPrefixSize
                do throws(DecompressionError) {
                    try compressor.decompress(
                        UnsafeRawBufferPointer(rebasing: scratch[start..<(start + size)]),
                        into: page)
                } catch {
                    counters.decompressErrors.increment()
                    throw .decompressionFailed(error)
                }
                return true
            }
        }
    }

    /// Evicts the least recently used ephemeral memory, one unit: a whole
    /// frame when the allocator keeps a frame LRU (zbud marks it dying, each of
    /// its buds' keys is flushed from TMem, releasing nothing, and the empty
    /// frame goes back to the pool), else the oldest entry of the per-entry
    /// LRU (isolated, its key flushed, then freed). Keys are flushed only if
    /// they still map here: a newer put of the key lives elsewhere and must
    /// survive. Returns false when nothing could be evicted.
    @discardableResult
    func evictEphemeral() -> Bool {
        if let frames = store.ephemeral.frameLRU {
            let evicted = frames.evictLRUFrame { owner, allocation in
                counters.evictedEphZPages.increment()
                _ = try? tmem.flushPage(
                    TMemKey(owner),
                    ifHandle: ZPageHandle(allocation: allocation, class: .ephemeral),
                    counted: false)
            }
            guard evicted else { return false }
            counters.evictedEphPageframes.increment()
            return true
        }
        return withOldestIsolated(.ephemeral, upTo: 1) { victims in
            for victim in victims {
                counters.evictedEphZPages.increment()
                _ = try? tmem.flushPage(victim.key, ifHandle: victim.handle, counted: false)
                store.finishIsolation(victim.handle)
            }
            return !victims.isEmpty
        }
    }

    /// Runs `attempt` again after each eviction of LRU ephemeral memory until
    /// it succeeds, nothing is left to evict, or `maxEvictionsPerAttempt`
    /// evictions were made (an eviction of an entry does not always free a
    /// frame: its neighbours in the zspage may live on). Returns its result.
    func retryEvictingEphemeral<T>(_ attempt: () -> T?) -> T? {
        for _ in 0..<ZCache.maxEvictionsPerAttempt {
            guard evictEphemeral() else { return nil }
            if let value = attempt() { return value }
        }
        return nil
    }

    /// A page an evictor or writeback took: its key and its handle.
    typealias Victim = (key: TMemKey, handle: ZPageHandle)

    /// Runs `body` on `count` victims, the `i`th made by `victim(i)`, in a
    /// temporary buffer (on the stack for a small `count`: no allocation per
    /// eviction or writeback).
    func withVictims<R>(
        count: Int, _ victim: (Int) -> Victim, _ body: (UnsafeBufferPointer<Victim>) -> R
    ) -> R {
        withUnsafeTemporaryAllocation(of: Victim.self, capacity: count) { victims in
            for position in 0..<count {
                victims.initializeElement(at: position, to: victim(position))
            }
            defer { _ = victims.deinitialize() }
            return body(UnsafeBufferPointer(victims))
        }
    }

    /// Takes up to `count` of the oldest entries of the per-entry LRU of
    /// `zbudClass` (none with a frame LRU), with the key each is stored
    /// under (`storedKey`), and runs `body` on them (`withVictims`). Each
    /// must be ended with `store.finishIsolation`. (The handles carry no
    /// size: TMem's do, and only "does the key still map to this allocation"
    /// is asked with them.)
    func withOldestIsolated<R>(
        _ zbudClass: ZBudClass, upTo count: Int, _ body: (UnsafeBufferPointer<Victim>) -> R
    ) -> R {
        guard let lru = store.lru(zbudClass), count > 0 else {
            return body(.init(start: nil, count: 0))
        }
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: count) { allocations in
            let taken = lru.isolateOldest(into: allocations)
            return withVictims(
                count: taken,
                { position in
                    let allocation = allocations[position]
                    return (
                        storedKey(of: allocation, zbudClass),
                        ZPageHandle(allocation: allocation, class: zbudClass)
                    )
                }, body)
        }
    }

    /// The tmem key stored in front of an isolated entry's bytes (`StoredKey`).
    private func storedKey(of allocation: UInt32, _ zbudClass: ZBudClass) -> TMemKey {
        let key = withUnsafeTemporaryAllocation(byteCount: StoredKey.maxSize, alignment: 8) {
            prefix -> TMemKey? in
            // An isolated object stays allocated, so this read cannot miss;
            // its slot holds at least the key.
            guard
                let read = store.allocator(zbudClass).readHead(
                    allocation, upTo: StoredKey.maxSize, into: prefix)
            else { return nil }
            return StoredKey.load(from: UnsafeRawBufferPointer(rebasing: prefix[..<read]))
        }
        guard let key else { preconditionFailure("an isolated entry's key could not be read") }
        return key
    }

    /// Evicts ephemeral memory until `count` pageframes went back to the pool,
    /// or nothing is left to evict. With a frame LRU each eviction is one
    /// frame; with the per-entry LRU, the oldest entries holding `count`
    /// pages' worth of bytes are evicted, then the allocator is compacted.
    /// Returns how many frames were freed.
    @discardableResult
    public func evictEphemeralPageframes(_ count: Int) -> Int {
        guard count > 0 else { return 0 }
        if store.ephemeral.frameLRU != nil {
            var freed = 0
            while freed < count, evictEphemeral() { freed += 1 }
            return freed
        }
        let before = store.ephemeral.framesInUse
        let bytesBefore = counters.ephZBytes.value
        // Bounded: puts running meanwhile add bytes as we take them.
        var budget = count * ZCache.maxEvictionsPerAttempt
        while budget > 0, bytesBefore - counters.ephZBytes.value < count * pageSize,
            evictEphemeral()
        {
            budget -= 1
        }
        let compacted = store.ephemeral.compact()
        counters.pagesCompacted.increment(by: compacted)
        let freed = max(0, before - store.ephemeral.framesInUse)
        counters.evictedEphPageframes.increment(by: freed)
        return freed
    }
}
