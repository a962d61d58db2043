// The host's swap paths, built the way the kernel's mm uses frontswap and the
// swap cache, so that writeback and swap-in never race to a wrong page:
//
//   swap out: allocate a slot (has-cache set) -> frontswap store
//             stored:   clear has-cache; the page lives in zcache
//             refused:  put the page in the swap cache and write it to the
//                       device asynchronously; it leaves the cache when written
//   swap in:  swap cache (a page being written, or kept after a failed write)
//             -> else take the slot's has-cache bit (writeback of this entry
//                now waits) -> frontswap load -> else device read
//             then the entry is released: the caller holds the only copy
//             (an entry with other owners keeps a page loaded from zcache in
//             the swap cache, dirty, for them: the exclusive load removed it)
//   swap free: drop the entry's reference; the last one invalidates the
//              zcache copy and drops an idle swap-cache page while the slot's
//              has-cache bit keeps the slot from being reused, so a later
//              owner of the slot never loses its page to this free
//
// Every step that removes a zcache copy by key does it while the slot cannot
// change owner (its has-cache bit held, or its swap-cache page locked), since
// the key of an entry is reused with its slot.
//
// Invariant: a page in the swap cache is never older than the zcache copy of
// its entry. Writeback keeps it by taking the zcache copy out exclusively;
// a frontswap store to an entry that has a swap-cache page keeps it by
// dropping that page once any write of it has finished.

import Dispatch
import SwapDevice
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

extension ZCache {
    /// Where a swap-in found its page.
    public enum SwapInSource: String, Sendable, Codable {
        /// In the swap cache: being written back, or kept after a failed write.
        case swapCache
        /// In zcache (frontswap load).
        case zcache
        /// Read from the swap device.
        case device
    }

    /// Swaps a page out to swap type `type`: a new slot, then frontswap, else
    /// the device. Returns the entry that now holds the page.
    public func swapOut(page: UnsafeRawBufferPointer, type: Int, wasActive: Bool = true)
        throws(ZCacheError) -> SwapEntry
    {
        guard page.count == pageSize else {
            counters.badInputErrors.increment()
            throw .pageNotOnePage(page.count)
        }
        let device = try attachedDevice(type: type)
        guard let entry = device.slots.allocate() else { throw .swapDeviceFull(type) }
        _ = device.slots.duplicate(entry)  // the caller's reference
        let result: PutResult
        do throws(ZCacheError) {
            // allocate() set the has-cache bit for us: store directly.
            let key = try frontswapKey(type: type, offset: entry.offset)
            result = try putPage(key, kind: .persistent, page: page, wasActive: wasActive)
        } catch {
            device.slots.swapcacheFree(entry)
            device.slots.free(entry)
            throw error
        }
        if result.isStored {
            device.slots.swapcacheFree(entry)
            return entry
        }
        // Refused by zcache: through the swap cache to the device. We hold the
        // has-cache bit, so the add cannot find another page there.
        let swapPage = SwapCachePage(entry: entry, flags: [.locked])
        swapPage.buffer.bytes.copyMemory(from: page)
        swapPage.setFlags(SwapCachePage.Flags([.upToDate, .writeback]))
        let added = device.swapCache.add(swapPage)
        assert(added, "has-cache bit held, yet the swap cache had a page")
        swapPage.unlock()
        submitToDevice(swapPage, on: device) { _ in }
        swapPage.release()
        return entry
    }

    /// Swaps a page in: swap cache, then zcache, then the device. On success the
    /// entry is released (the caller's reference dropped), as the caller now
    /// holds the page. On a device read error the entry is kept, so the read
    /// can be retried.
    @discardableResult
    public func swapIn(_ entry: SwapEntry, into page: UnsafeMutableRawBufferPointer)
        throws(ZCacheError) -> SwapInSource
    {
        guard page.count == pageSize else {
            counters.badInputErrors.increment()
            throw .pageNotOnePage(page.count)
        }
        let device = try attachedDevice(type: entry.type)
        while true {
            if let cached = device.swapCache.find(entry) {
                defer { cached.release() }
                if cached.isUpToDate {
                    page.copyMemory(from: UnsafeRawBufferPointer(cached.buffer.bytes))
                    swapFree(entry)
                    return .swapCache
                }
            } else {
                switch device.slots.swapcachePrepare(entry) {
                case .prepared:
                    let source = try swapInUncached(entry, device: device, into: page)
                    if source == .zcache && configuration.exclusiveGets
                        && device.slots.useCount(entry) > 1
                    {
                        // The exclusive load took the only copy, and the entry
                        // has other owners: keep the page in the swap cache
                        // (dirty) for them, as the kernel's swap cache does.
                        keepInSwapCache(entry, device: device, page: UnsafeRawBufferPointer(page))
                    } else {
                        device.slots.swapcacheFree(entry)
                    }
                    swapFree(entry)
                    return source
                case .alreadyPrepared:
                    break  // writeback or another swap-in has it: look again
                case .notInUse:
                    counters.badInputErrors.increment()
                    throw .swapEntryNotInUse(entry)
                }
            }
            sched_yield()
        }
    }

    /// Adds a copy of `page` to the swap cache for `entry`, up to date and
    /// dirty (it is newer than the slot). The caller holds the entry's
    /// has-cache bit, which the cached page now owns.
    private func keepInSwapCache(
        _ entry: SwapEntry, device: SwapDevice, page: UnsafeRawBufferPointer
    ) {
        let kept = SwapCachePage(entry: entry, flags: [.locked])
        kept.buffer.bytes.copyMemory(from: page)
        kept.setFlags([.upToDate, .dirty])
        let added = device.swapCache.add(kept)
        assert(added, "has-cache bit held, yet the swap cache had a page")
        kept.unlock()
        kept.release()
    }

    /// Zcache, else the device; the caller holds the entry's has-cache bit.
    private func swapInUncached(
        _ entry: SwapEntry, device: SwapDevice, into page: UnsafeMutableRawBufferPointer
    ) throws(ZCacheError) -> SwapInSource {
        do {
            if try frontswapLoad(type: entry.type, offset: entry.offset, into: page) {
                return .zcache
            }
        } catch {
            device.slots.swapcacheFree(entry)
            throw error
        }
        let buffer = PageBuffer()
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedValue<Result<Void, SwapIOError>>(.success(()))
        device.submitRead(into: buffer, at: entry) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        if case .failure(let error) = outcome.withLock({ $0 }) {
            device.slots.swapcacheFree(entry)
            throw .io(error)
        }
        page.copyMemory(from: UnsafeRawBufferPointer(buffer.bytes))
        return .device
    }

    /// Drops one reference to `entry` (`swap_free`). The last reference takes
    /// the entry's zcache copy and idle swap-cache page with it, and the slot is
    /// kept allocated (by its has-cache bit) until they are gone, so the slot's
    /// next owner never loses a page to this free.
    public func swapFree(_ entry: SwapEntry) {
        guard let device = writeback.device(type: entry.type) else { return }
        let slots = device.slots
        while true {
            if slots.freeUnlessLast(entry) { return }  // others still own it
            if device.swapCache.find(entry).map({ $0.release() }) != nil {
                // The page holds the has-cache bit, and a swap-cache page is
                // never older than zcache, so zcache holds no copy. Drop the
                // reference first: a write still running then sees the entry
                // unused when it completes, and cleans up itself.
                slots.free(entry)
                dropCachedPage(entry, device: device, waitForWriteback: false)
                return
            }
            switch slots.swapcachePrepare(entry) {
            case .prepared:
                slots.free(entry)
                if slots.useCount(entry) == 0 {
                    try? frontswapInvalidatePage(type: entry.type, offset: entry.offset)
                }
                slots.swapcacheFree(entry)
                return
            case .notInUse:
                slots.free(entry)  // counted as a bad free
                return
            case .alreadyPrepared:
                sched_yield()  // a store, swap-in or writeback holds it briefly
            }
        }
    }

    /// Removes the swap-cache page of `entry` (clearing the has-cache bit it
    /// held). A page under writeback is waited for or, without waiting, left
    /// to leave the cache when its write completes.
    func dropCachedPage(_ entry: SwapEntry, device: SwapDevice, waitForWriteback: Bool) {
        while let cached = device.swapCache.find(entry) {
            var busy = false
            if cached.tryLock() {
                if !cached.isWriteback {
                    if device.swapCache.delete(cached) {
                        device.slots.swapcacheFree(entry)
                    }
                    cached.unlock()
                    cached.release()
                    return
                }
                busy = true
                cached.unlock()
            }
            cached.release()
            if busy && !waitForWriteback { return }
            usleep(50)
        }
    }

    /// Runs `body` holding `entry`'s has-cache bit, after dropping an older
    /// swap-cache page of the entry (waiting for its write). An entry that is
    /// not in use has no swap-cache protocol to follow: `body` just runs.
    func holdingSwapCacheBit<T>(
        _ entry: SwapEntry, device: SwapDevice, _ body: () throws(ZCacheError) -> T
    ) throws(ZCacheError) -> T {
        while true {
            if device.swapCache.find(entry).map({ $0.release() }) != nil {
                dropCachedPage(entry, device: device, waitForWriteback: true)
                continue
            }
            switch device.slots.swapcachePrepare(entry) {
            case .prepared:
                defer { device.slots.swapcacheFree(entry) }
                return try body()
            case .notInUse:
                return try body()
            case .alreadyPrepared:
                sched_yield()
            }
        }
    }

    func attachedDevice(type: Int) throws(ZCacheError) -> SwapDevice {
        guard let device = writeback.device(type: type) else {
            counters.badInputErrors.increment()
            throw .noSwapDevice(type)
        }
        return device
    }
}
