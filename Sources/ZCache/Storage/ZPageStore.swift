import Synchronization
import TMem
import ZBud
import ZCacheSupport

/// The storage side of TMem (the kernel's `pamops`): owns the pageframe pool and
/// the two zbud classes, and is the single place where frames enter and leave a
/// class and where a stored page's memory is released.
///
/// Frame ownership, the answer to the seed's double-free question: a frame is
/// owned by exactly one of {the pool, a zbud class, an evictor, writeback}. zbud
/// hands a frame back (from `free` when it empties, from `evictLRU` when it
/// evicts); whoever receives it either adopts it into a class or returns it to
/// the pool, once. A flush that reaches a dying frame during eviction releases
/// nothing, because zbud returns no frame for it.
final class ZPageStore: TMemStorage {
    typealias Handle = ZPageHandle

    let pool: PageFramePool
    let ephemeral: ZBud
    let persistent: ZBud
    let counters: ZCacheCounters
    /// The last zero-filled sentinel's tag (see `ZPageHandle.zeroFilled(tag:)`).
    let zeroFilledTags = Atomic<UInt64>(0)

    init(pageframes: Int, counters: ZCacheCounters) {
        pool = PageFramePool(frameCount: pageframes)
        ephemeral = ZBud(class: .ephemeral, frameCount: pageframes)
        persistent = ZBud(class: .persistent, frameCount: pageframes)
        self.counters = counters
    }

    @inline(__always)
    func zbud(_ zbudClass: ZBudClass) -> ZBud {
        zbudClass == .ephemeral ? ephemeral : persistent
    }

    /// TMem removed `handle` (flush, duplicate put, destroyed pool): release it.
    func free(_ handle: ZPageHandle, key: TMemKey) {
        release(handle)
    }

    /// Releases one stored page: zbud frees the bud (and hands back the frame
    /// when it emptied, unless an evictor owns the frame).
    @inline(__always)
    func release(_ handle: ZPageHandle) {
        if handle.isZeroFilled {
            counters.zeroFilledPages.add(-1)
            return
        }
        let zbudClass = handle.zbudClass
        counters.addZPage(-1, bytes: -handle.size, zbudClass)
        freeBud(handle.ref, zbudClass)
    }

    /// Copies a stored zpage's compressed bytes into `buffer` and, when `release`
    /// (the get removed the key), releases it, under one zbud lock. Returns the
    /// size, or nil when its frame is being evicted.
    @inline(__always)
    func copyOut(_ handle: ZPageHandle, into buffer: UnsafeMutableRawBufferPointer, release: Bool)
        -> Int?
    {
        let zbudClass = handle.zbudClass
        guard release else { return zbud(zbudClass).copyOut(handle.ref, into: buffer) }
        counters.addZPage(-1, bytes: -handle.size, zbudClass)
        let (size, emptied) = zbud(zbudClass).copyOutAndFree(handle.ref, into: buffer)
        if let emptied { releaseFrame(emptied, from: zbudClass) }
        return size
    }

    /// Frees a bud in zbud, returning its frame to the pool if it emptied.
    @inline(__always)
    func freeBud(_ ref: ZBudRef, _ zbudClass: ZBudClass) {
        if let frame = zbud(zbudClass).free(ref) {
            releaseFrame(frame, from: zbudClass)
        }
    }

    /// A class gave `frame` back: return it to the pool.
    @inline(__always)
    func releaseFrame(_ frame: PageFrameNumber, from zbudClass: ZBudClass) {
        counters.addPageframes(-1, zbudClass)
        pool.free(frame)
    }

    /// Stores `data` as a new bud in a frame that holds no bud yet (freshly
    /// allocated or just evicted), which `zbudClass` adopts.
    @inline(__always)
    func create(
        inNewFrame frame: PageFrameNumber, _ zbudClass: ZBudClass, owner: BudOwner,
        data: UnsafeRawBufferPointer
    ) -> ZBudRef {
        counters.addPageframes(1, zbudClass)
        return zbud(zbudClass).createInNewFrame(
            frame, address: pool.address(of: frame), owner: owner, data: data)
    }
}
