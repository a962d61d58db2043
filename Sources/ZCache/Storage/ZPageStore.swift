import Synchronization
import TMem
import ZBud
import ZCacheSupport

/// The storage side of TMem (the kernel's `pamops`): owns the pageframe pool,
/// one allocator per class (see `ZPageAllocator.swift` for the picture), the
/// per-entry LRUs when the allocator has no frame LRU, and the same-filled
/// words. It is the single place where a stored page's memory is released.
///
/// Memory ownership, the answer to the seed's double-free question: a frame is
/// owned by exactly one of {the pool, an allocator, an evictor, writeback};
/// an object by its allocator until freed exactly once, by whoever TMem hands
/// the handle to, except while an evictor holds it (a dying zbud frame, an
/// isolated LRU entry): then TMem's free releases nothing and the evictor frees.
final class ZPageStore: TMemStorage {
    typealias Handle = ZPageHandle

    let kind: ZCacheAllocatorKind
    let pool: PageFramePool
    let ephemeral: any ZPageAllocator
    let persistent: any ZPageAllocator
    /// The per-entry LRUs: nil when the allocator keeps a frame LRU (zbud).
    let ephemeralLRU: EntryLRU?
    let persistentLRU: EntryLRU?
    /// Whether ZCache writes the tmem key in front of each object
    /// (`StoredKey`): for allocators that do not keep it themselves, not zbud.
    let storesKey: Bool
    let counters: ZCacheCounters
    let sameFilled = SameFilledWords()
    /// The last same-filled sentinel's tag (see `ZPageHandle.sameFilled(slot:tag:)`).
    let sameFilledTags = Atomic<UInt64>(0)

    init(configuration: ZCacheConfiguration, counters: ZCacheCounters) {
        pool = PageFramePool(frameCount: configuration.pageframes)
        self.counters = counters
        kind = configuration.allocator
        switch configuration.allocator {
        case .zbud:
            ephemeral = ZBudAllocator(class: .ephemeral, pool: pool, counters: counters)
            persistent = ZBudAllocator(class: .persistent, pool: pool, counters: counters)
            ephemeralLRU = nil
            persistentLRU = nil
            storesKey = false
        case .zsmalloc:
            ephemeral = ZSmallocAllocator(class: .ephemeral, pool: pool, counters: counters)
            persistent = ZSmallocAllocator(class: .persistent, pool: pool, counters: counters)
            ephemeralLRU = EntryLRU()
            persistentLRU = EntryLRU()
            storesKey = true
        }
    }

    @inline(__always)
    func allocator(_ zbudClass: ZBudClass) -> any ZPageAllocator {
        zbudClass == .ephemeral ? ephemeral : persistent
    }

    @inline(__always)
    func lru(_ zbudClass: ZBudClass) -> EntryLRU? {
        zbudClass == .ephemeral ? ephemeralLRU : persistentLRU
    }

    /// Bytes of the key prefix in front of the object stored under `key`.
    @inline(__always)
    func keyPrefixSize(_ key: TMemKey) -> Int { storesKey ? StoredKey.size(of: key) : 0 }

    /// TMem removed `handle` (flush, duplicate put, destroyed pool): release it.
    func free(_ handle: ZPageHandle, key: TMemKey) {
        release(handle)
    }

    /// Releases one stored page: the allocator frees it, unless an evictor
    /// holds it (zbud's dying frame frees nothing; an isolated entry is freed
    /// by its isolator).
    @inline(__always)
    func release(_ handle: ZPageHandle) {
        if handle.isSameFilled {
            releaseSameFilled(handle)
            return
        }
        let zbudClass = handle.zbudClass
        counters.addZPage(-1, bytes: -handle.size, zbudClass)
        if let lru = lru(zbudClass), !lru.release(handle.allocation) { return }
        allocator(zbudClass).free(handle.allocation)
    }

    /// Copies a stored page's bytes (key prefix of `keyPrefixSize` bytes,
    /// then compressed bytes) into `buffer` and, when `release` (the get
    /// removed the key), releases it. Returns false when it is being evicted
    /// whole (zbud's dying frame).
    @inline(__always)
    func copyOut(
        _ handle: ZPageHandle, keyPrefixSize: Int, into buffer: UnsafeMutableRawBufferPointer,
        release: Bool
    ) -> Bool {
        let zbudClass = handle.zbudClass
        let allocator = allocator(zbudClass)
        let size = keyPrefixSize + handle.size
        guard release else {
            // The page stays: a use the shrinker's second chance should see.
            lru(zbudClass)?.markReferenced(handle.allocation)
            return allocator.read(handle.allocation, size: size, into: buffer) != nil
        }
        counters.addZPage(-1, bytes: -handle.size, zbudClass)
        if let lru = lru(zbudClass), !lru.releaseUnlessIsolated(handle.allocation) {
            // Isolated: copied out while TMem still holds it, then let go.
            // Once let go, the isolator's `finishIsolation` frees it at once,
            // so a read after that could find it freed or holding another
            // object's bytes.
            let copied = allocator.read(handle.allocation, size: size, into: buffer) != nil
            // If the isolator put it back on the list meanwhile, it is ours to free.
            if lru.release(handle.allocation) { allocator.free(handle.allocation) }
            return copied
        }
        return allocator.readAndFree(handle.allocation, size: size, into: buffer) != nil
    }

    /// TMem published `handle` under its key (under the bucket lock): zbud
    /// finishes the bud; the per-entry LRU takes the entry at its newest end.
    @inline(__always)
    func published(_ handle: ZPageHandle) {
        let zbudClass = handle.zbudClass
        allocator(zbudClass).published(handle.allocation)
        lru(zbudClass)?.link(handle.allocation)
    }

    /// Frees a handle TMem never took (its put failed).
    func cancel(_ handle: ZPageHandle) {
        allocator(handle.zbudClass).free(handle.allocation)
    }

    /// Ends an isolation (see `EntryLRU`): frees the object if TMem let go of it.
    func finishIsolation(_ handle: ZPageHandle) {
        let zbudClass = handle.zbudClass
        guard let lru = lru(zbudClass), lru.finishIsolation(handle.allocation) else { return }
        allocator(zbudClass).free(handle.allocation)
    }

    /// A sentinel for a page repeating `word`, or nil when the word table is full.
    func sameFilledHandle(_ word: UInt64) -> ZPageHandle? {
        guard let slot = sameFilled.retain(word) else { return nil }
        let tag = sameFilledTags.wrappingAdd(1, ordering: .relaxed).newValue
        return .sameFilled(slot: slot, tag: tag)
    }

    func releaseSameFilled(_ handle: ZPageHandle) {
        if handle.isZeroFilled { counters.zeroFilledPages.add(-1) }
        counters.sameFilledPages.add(-1)
        sameFilled.release(handle.sameFilledSlot)
    }

    /// Frames held by both allocators.
    var framesInUse: Int { ephemeral.framesInUse + persistent.framesInUse }

    /// Bytes of every per-entry structure outside the frames: the allocators',
    /// the per-entry LRUs' and the same-filled word table's.
    var metadataBytes: Int {
        ephemeral.metadataBytes + persistent.metadataBytes
            + (ephemeralLRU?.metadataBytes ?? 0) + (persistentLRU?.metadataBytes ?? 0)
            + sameFilled.metadataBytes
    }
}
