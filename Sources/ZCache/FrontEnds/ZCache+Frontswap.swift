import SwapDevice
import Synchronization
import TMem
import ZCacheSupport

/// The frontswap front end: anonymous pages on their way to swap.
extension ZCache {
    /// Prepares swap type `type` (0..<32) for stores (`zcache_frontswap_init`).
    public func frontswapInit(type: Int) throws(ZCacheError) {
        guard (0..<FrontswapKey.maxSwapTypes).contains(type) else {
            throw badInput(.invalidSwapType(type))
        }
        frontswapTypes.bitwiseOr(1 << UInt32(type), ordering: .sequentiallyConsistent)
    }

    /// Stores a page that is being swapped out (`frontswap_store`).
    ///
    /// - Returns: `.stored` or `.storedZeroFilled` when zcache holds it, or
    ///   `.rejected(reason)` when the caller must write it to the swap device.
    ///   Any older copy at this entry is gone either way.
    ///
    /// With a swap device attached for `type`, `offset` must be a slot in use
    /// (from `swapOut`, or allocated in `device.slots`): writeback treats the
    /// copy of a slot that is not in use as freed and leaves it to be
    /// invalidated, as the kernel's swap entries work.
    @discardableResult
    public func frontswapStore(
        type: Int, offset: UInt64, page: UnsafeRawBufferPointer, wasActive: Bool = true
    ) throws(ZCacheError) -> PutResult {
        let key = try frontswapKey(type: type, offset: offset)
        guard let device = writeback.device(type: type),
            let entry = SwapEntry(type: type, offset: offset)
        else {
            return try putPage(key, kind: .persistent, page: page, wasActive: wasActive)
        }
        // With a swap device, the store holds the entry's has-cache bit, as the
        // kernel's store runs on a page in the swap cache: writeback of this
        // entry waits, and an older swap-cache page is dropped first.
        return try holdingSwapCacheBit(entry, device: device) { () throws(ZCacheError) in
            try putPage(key, kind: .persistent, page: page, wasActive: wasActive)
        }
    }

    /// Loads a swapped-out page (`frontswap_load`). With exclusive gets (the
    /// default) the page leaves zcache. Returns whether it was found.
    public func frontswapLoad(type: Int, offset: UInt64, into page: UnsafeMutableRawBufferPointer)
        throws(ZCacheError) -> Bool
    {
        let key = try frontswapKey(type: type, offset: offset)
        counters.persGets.increment()
        let hit = try getPage(key, into: page)
        if hit { counters.persGetHits.increment() }
        return hit
    }

    /// Forgets one swap entry (`frontswap_invalidate_page`).
    public func frontswapInvalidatePage(type: Int, offset: UInt64) throws(ZCacheError) {
        let key = try frontswapKey(type: type, offset: offset)
        do { try tmem.flushPage(key) } catch { throw .tmem(error) }
    }

    /// Forgets every entry of a swap type (`frontswap_invalidate_area`): the
    /// 256 objects the swizzling spreads it over. The type must be initialised
    /// again before the next store.
    public func frontswapInvalidateArea(type: Int) throws(ZCacheError) {
        let pool = try frontswapPoolID(type: type)
        for low in 0..<UInt64(1 << FrontswapKey.swizzleBits) {
            let object = ObjectID(UInt64(type) << FrontswapKey.swizzleBits | low)
            do { try tmem.flushObject(pool: pool, object: object) } catch { throw .tmem(error) }
        }
        frontswapTypes.bitwiseAnd(~(1 << UInt32(type)), ordering: .sequentiallyConsistent)
    }

    /// The tmem key of a swap entry, checking the type was initialised.
    @inline(__always)
    func frontswapKey(type: Int, offset: UInt64) throws(ZCacheError) -> TMemKey {
        let pool = try frontswapPoolID(type: type)
        guard let (object, index) = FrontswapKey.swizzle(type: type, offset: offset) else {
            throw badInput(.invalidSwapOffset(offset))
        }
        return TMemKey(pool: pool, object: object, index: index)
    }

    @inline(__always)
    func frontswapPoolID(type: Int) throws(ZCacheError) -> PoolID {
        guard (0..<FrontswapKey.maxSwapTypes).contains(type) else {
            throw badInput(.invalidSwapType(type))
        }
        guard frontswapTypes.load(ordering: .sequentiallyConsistent) & (1 << UInt32(type)) != 0
        else { throw badInput(.swapTypeNotInitialised(type)) }
        return frontswapPool
    }
}
