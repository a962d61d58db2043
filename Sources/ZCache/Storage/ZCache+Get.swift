import TMem
import ZBud
import ZCacheSupport

extension ZCache {
    /// What the TMem read callback found, copied out under the bucket lock.
    private enum Found {
        case zeroFilled
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
        return try withUnsafeTemporaryAllocation(byteCount: ZBud.maxZPageSize, alignment: 16) {
            (scratch) throws(ZCacheError) -> Bool in
            let found: Found?
            do throws(TMemError) {
                found = try tmem.get(key, ifHandle: ifHandle, forceRemove: forceRemove) {
                    handle, removed -> Found? in
                    if handle.isZeroFilled {
                        if removed { store.release(handle) }
                        return .zeroFilled
                    }
                    let size = store.copyOut(handle, into: scratch, release: removed)
                    // nil: the frame is being evicted; the get misses.
                    return size.map { .compressed($0) }
                }
            } catch {
                throw badInput(.tmem(error))
            }
            switch found {
            case nil:
                return false
            case .zeroFilled:
                page.initializeMemory(as: UInt8.self, repeating: 0)
                return true
            case .compressed(let size):
                do throws(DecompressionError) {
                    try compressor.decompress(
                        UnsafeRawBufferPointer(rebasing: scratch[..<size]), into: page)
                } catch {
                    counters.decompressErrors.increment()
                    throw .decompressionFailed(error)
                }
                return true
            }
        }
    }

    /// Evicts the least recently used ephemeral pageframe: zbud marks it dying,
    /// each of its buds' keys is flushed from TMem (the flush releases nothing:
    /// the frame is dying), and the empty frame comes back here, still allocated
    /// from the pool. The caller adopts it into a class or frees it, once.
    func evictEphemeralFrame() -> PageFrameNumber? {
        guard
            let frame = store.ephemeral.evictLRU(flush: { owner, ref in
                counters.evictedEphZPages.increment()
                // Only if the key still names this bud: a newer put of the key
                // lives elsewhere and must survive.
                _ = try? tmem.flushPage(
                    TMemKey(owner), ifHandle: ZPageHandle(ref, class: .ephemeral), counted: false)
            })
        else { return nil }
        counters.addPageframes(-1, .ephemeral)
        counters.evictedEphPageframes.increment()
        return frame
    }

    /// Evicts up to `count` ephemeral pageframes and returns them to the pool.
    /// Returns how many were freed.
    @discardableResult
    public func evictEphemeralPageframes(_ count: Int) -> Int {
        var freed = 0
        while freed < count, let frame = evictEphemeralFrame() {
            store.pool.free(frame)
            freed += 1
        }
        return freed
    }
}
