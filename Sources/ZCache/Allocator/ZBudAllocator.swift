// zbud behind the allocator seam: exactly zcache 2013's behaviour. A new
// zpage pairs with the fullest unbuddied frame of its class that fits, else
// takes a frame from the pool; zbud keeps the LRU of frames, so eviction and
// writeback take whole frames (see `FrameLRU`).

import ZBud

/// One zbud class with the pool it takes frames from.
///
/// Frame ownership: a frame is owned by the pool, by this class, or by an
/// evictor. zbud hands a frame back when its last bud is freed; this adapter
/// returns it to the pool, once, and keeps zcache's `*_pageframes` level.
final class ZBudAllocator: ZPageAllocator, FrameLRU {
    let zbud: ZBud
    let pool: PageFramePool
    let zbudClass: ZBudClass
    let counters: ZCacheCounters

    init(class zbudClass: ZBudClass, pool: PageFramePool, counters: ZCacheCounters) {
        zbud = ZBud(class: zbudClass, frameCount: pool.frameCount)
        self.pool = pool
        self.zbudClass = zbudClass
        self.counters = counters
    }

    var maxObjectSize: Int { ZBud.maxZPageSize }

    func allocate(_ data: UnsafeRawBufferPointer, owner: BudOwner) -> UInt32? {
        guard data.count <= ZBud.maxZPageSize else { return nil }
        if let ref = zbud.createInMatchingFrame(owner: owner, data: data) { return ref.rawValue }
        guard let frame = pool.allocate() else { return nil }
        counters.addPageframes(1, zbudClass)
        return zbud.createInNewFrame(
            frame, address: pool.address(of: frame), owner: owner, data: data
        ).rawValue
    }

    func published(_ handle: UInt32) {
        zbud.finishCreate(ZBudRef(rawValue: handle))
    }

    func read(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        zbud.copyOut(ZBudRef(rawValue: handle), into: buffer)
    }

    /// zbud copies a bud's bytes whole: through a buffer of the largest bud.
    func readHead(_ handle: UInt32, upTo size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        withUnsafeTemporaryAllocation(byteCount: ZBud.maxZPageSize, alignment: 16) { whole in
            guard let stored = zbud.copyOut(ZBudRef(rawValue: handle), into: whole),
                let destination = buffer.baseAddress, let source = whole.baseAddress
            else { return nil }
            let count = max(0, min(stored, size, buffer.count))
            destination.copyMemory(from: source, byteCount: count)
            return count
        }
    }

    func readAndFree(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        let (size, emptied) = zbud.copyOutAndFree(ZBudRef(rawValue: handle), into: buffer)
        if let emptied { release(emptied) }
        return size
    }

    func free(_ handle: UInt32) {
        if let emptied = zbud.free(ZBudRef(rawValue: handle)) { release(emptied) }
    }

    /// zbud gave `frame` back: return it to the pool.
    private func release(_ frame: PageFrameNumber) {
        counters.addPageframes(-1, zbudClass)
        pool.free(frame)
    }

    /// zcache's level for the class (exact at rest; zbud's own count agrees,
    /// see `ZCache.checkFrameAccounting`).
    var framesInUse: Int {
        zbudClass == .ephemeral ? counters.ephPageframes.value : counters.persPageframes.value
    }

    var ownFrameCount: Int { zbud.stats.pageframes }

    /// zbud cannot move buds: nothing to compact.
    func compact() -> Int { 0 }

    /// zbud keeps per-frame state only (nothing per bud): its frame table,
    /// busy bits and list links, reserved for the whole pool and committed as
    /// frames are first used, so counted as resident (`mincore`).
    var metadataBytes: Int { zbud.metadataResidentBytes }

    var allocatorStatistics: AllocatorStatistics {
        let stats = zbud.stats
        var result = AllocatorStatistics()
        result.framesInUse = stats.pageframes
        result.objects = stats.zpages
        result.objectsStoredTotal = stats.cumulZpages
        result.objectBytes = stats.zbytes
        return result
    }

    func checkInvariants() { zbud.checkInvariants() }

    var frameLRU: (any FrameLRU)? { self }

    func evictLRUFrame(flush: (BudOwner, UInt32) -> Void) -> Bool {
        guard let frame = zbud.evictLRU(flush: { owner, ref in flush(owner, ref.rawValue) })
        else { return false }
        release(frame)
        return true
    }

    func rotateReferencedLRU(limit: Int) -> Int {
        zbud.rotateReferencedLRU(limit: limit)
    }

    func zombifyLRUFrame() -> FrameBuds { zbud.zombifyLRU() }
}
