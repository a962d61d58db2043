// The host's swap paths, built the way the kernel's mm uses frontswap and the
// swap cache, so that writeback and swap-in never race to a wrong page:
//
//   swap out: allocate a slot (has-cache set) -> frontswap store
//             stored:   clear has-cache; the page lives in zcache
//             refused:  put the page in the swap cache and write it to the
//                       device asynchronously; it leaves the cache when written
//   swap in:  swap cache (a page being written, or kept after a failed write)
//             -> else take the slot's has-cache bit (writeback of this entry
//                now waits) -> frontswap load -> else the remote tier, if the
//                slot's page lives there -> else device read
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
// dropping that page once any write of it has finished. A swap-cache page is
// up to date whenever it is in the cache unlocked.
//
// Waiting: an entry whose has-cache bit another thread holds, with no page in
// the swap cache yet, is waited for with `SwapDevice.waitWhileBeingPrepared`;
// a locked page with `SwapCachePage.lock` or a wait on its `locked` bit; a
// page under writeback with a wait on its `writeback` bit. All of them sleep
// in `SwapEntryWaitTable` until the change that ends the busy state wakes
// them (the kernel's wait-on-page-bit and its `swapcache_prepare` retry).
//
// Order: each loop below tries `swapcachePrepare` before the swap-cache
// lookup, and looks up only when the bit is held (`.alreadyPrepared`). That
// is the kernel's lookup-then-prepare with the lookup skipped when it cannot
// find anything: a page is in the swap cache only while it owns its entry's
// has-cache bit, so a clear bit (`.prepared` or `.notInUse`) means no page is
// cached, and a page added after the bit was seen set is found by the next
// turn of the loop, as with the kernel's order.
//
// A swap-in from zcache, the common case, takes: the device table once (an
// atomic load), the slot map's state word twice (a compare-and-swap in
// `swapcachePrepare`, and one in `endSwapIn`, which drops the reference and
// the has-cache bit in one step; the slot map's lock only when that frees the
// slot), no swap-cache lock (the bit was clear), and one TMem bucket for the
// exclusive load. The load already removed the zcache copy, so the entry's
// end needs no invalidate.

import SwapDevice
import ZCacheSupport

extension ZCache {
    /// Where a swap-in found its page.
    public enum SwapInSource: String, Sendable, Codable {
        /// In the swap cache: being written back, or kept after a failed write.
        case swapCache
        /// In zcache (frontswap load).
        case zcache
        /// Read from the swap device.
        case device
        /// Fetched from the remote tier.
        case remote
    }

    /// Swaps a page out to swap type `type`: a new slot, then frontswap, else
    /// the device. Returns the entry that now holds the page.
    public func swapOut(page: UnsafeRawBufferPointer, type: Int, wasActive: Bool = true)
        throws(ZCacheError) -> SwapEntry
    {
        guard page.count == pageSize else { throw badInput(.pageNotOnePage(page.count)) }
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
        // Refused by zcache: through the swap cache to the device.
        let swapPage = addToSwapCache(entry, device: device, page: page, flags: [.upToDate])
        submitToDevice(swapPage, on: device) { _ in }
        swapPage.release()
        return entry
    }

    /// Swaps a page in: swap cache, then zcache, then the remote tier, then the
    /// device. On success the entry is released (the caller's reference
    /// dropped), as the caller now holds the page. On a device read error or a
    /// remote page unavailable the entry is kept, so the swap-in can be retried.
    @discardableResult
    public func swapIn(_ entry: SwapEntry, into page: UnsafeMutableRawBufferPointer)
        throws(ZCacheError) -> SwapInSource
    {
        guard page.count == pageSize else { throw badInput(.pageNotOnePage(page.count)) }
        let device = try attachedDevice(type: entry.type)
        while true {
            // The has-cache bit first (see "Order" at the top of the file).
            switch device.slots.swapcachePrepare(entry) {
            case .prepared:
                return try swapInPrepared(entry, device: device, into: page)
            case .notInUse:
                throw badInput(.swapEntryNotInUse(entry))
            case .alreadyPrepared:
                guard let cached = device.swapCache.find(entry) else {
                    device.waitWhileBeingPrepared(entry)
                    continue
                }
                defer { cached.release() }
                if cached.isUpToDate {
                    page.copyMemory(from: UnsafeRawBufferPointer(cached.buffer.bytes))
                    swapFree(entry, device: device)
                    return .swapCache
                }
                // Writeback is filling it: wait for the fill to end.
                SwapEntryWaitTable.wait(on: entry) { cached.isLocked }
            }
        }
    }

    /// Zcache, else the remote tier, else the device, then the end of the caller's reference; the
    /// caller holds the entry's has-cache bit, which this gives up.
    private func swapInPrepared(
        _ entry: SwapEntry, device: SwapDevice, into page: UnsafeMutableRawBufferPointer
    ) throws(ZCacheError) -> SwapInSource {
        let source: SwapInSource
        do throws(ZCacheError) {
            if try frontswapLoad(type: entry.type, offset: entry.offset, into: page) {
                source = .zcache
            } else if try remoteLoad(entry, into: page) {
                source = .remote
            } else {
                try read(entry, from: device, into: page)
                source = .device
            }
        } catch {
            device.slots.swapcacheFree(entry)
            throw error
        }
        if source == .zcache && !configuration.exclusiveGets {
            // The load left the zcache copy: the general free invalidates it
            // if this was the last reference.
            device.slots.swapcacheFree(entry)
            swapFree(entry, device: device)
            return source
        }
        // No zcache copy is left (the exclusive load took it, or there was
        // none), so ending the entry needs no invalidate. If the entry has
        // other owners and the page came from zcache, it has no other copy:
        // keep it in the swap cache (dirty) for them, as the kernel's swap
        // cache does; the bit we hold goes to that page.
        // A page from the remote tier has no other copy either (its record is gone).
        if device.slots.endSwapIn(entry, keepCacheWhenShared: source != .device) {
            let kept = addToSwapCache(
                entry, device: device, page: UnsafeRawBufferPointer(page),
                flags: [.upToDate, .dirty])
            kept.release()
        }
        return source
    }

    /// Reads `entry`'s slot into `page` on this thread (`SwapDevice.read`).
    private func read(
        _ entry: SwapEntry, from device: SwapDevice, into page: UnsafeMutableRawBufferPointer
    ) throws(ZCacheError) {
        if case .failure(let error) = device.read(entry, into: page) { throw .io(error) }
    }

    /// Adds a copy of `page` to the swap cache for `entry` with `flags`, and
    /// returns it (the caller's reference) unlocked. The caller holds the
    /// entry's has-cache bit, which the cached page now owns.
    private func addToSwapCache(
        _ entry: SwapEntry, device: SwapDevice, page: UnsafeRawBufferPointer,
        flags: SwapCachePage.Flags
    ) -> SwapCachePage {
        let swapPage = device.swapCache.addLockedPage(for: entry)
        swapPage.buffer.bytes.copyMemory(from: page)
        swapPage.setFlags(flags)
        swapPage.unlock()
        return swapPage
    }

    /// Drops one reference to `entry` (`swap_free`). The last reference takes
    /// the entry's zcache copy and idle swap-cache page with it, and the slot is
    /// kept allocated (by its has-cache bit) until they are gone, so the slot's
    /// next owner never loses a page to this free.
    public func swapFree(_ entry: SwapEntry) {
        guard let device = writeback.device(type: entry.type) else { return }
        swapFree(entry, device: device)
    }

    func swapFree(_ entry: SwapEntry, device: SwapDevice) {
        let slots = device.slots
        while true {
            if slots.freeUnlessLast(entry) { return }  // others still own it
            // The has-cache bit first (see "Order" at the top of the file).
            switch slots.swapcachePrepare(entry) {
            case .prepared:
                slots.free(entry)
                if slots.useCount(entry) == 0 {
                    try? frontswapInvalidatePage(type: entry.type, offset: entry.offset)
                    forgetRemotePage(entry)
                }
                slots.swapcacheFree(entry)
                return
            case .notInUse:
                slots.free(entry)  // counted as a bad free
                return
            case .alreadyPrepared:
                break
            }
            if let cached = device.swapCache.find(entry) {
                defer { cached.release() }
                // The page holds the has-cache bit, and a swap-cache page is
                // never older than zcache, so zcache holds no copy. Drop the
                // reference first: a write still running then sees the entry
                // unused when it completes, and cleans up itself. From then on
                // the slot may be freed and handed to a new owner at any
                // moment, so only this page is dropped, never "the entry's
                // page", which may by then be the next owner's.
                slots.free(entry)
                testHooks.afterLastReferenceDropped.withLock { $0 }?(entry)
                _ = removeFromSwapCache(cached, device: device)
                return
            }
            // A store, swap-in or writeback holds the bit briefly.
            device.waitWhileBeingPrepared(entry)
        }
    }

    /// Removes `page` from the swap cache and clears the has-cache bit it held,
    /// unless it is under writeback (returns false: it leaves the cache when
    /// its write completes). True also when it already left. Acts on this page
    /// only, never on a later page of the same entry.
    func removeFromSwapCache(_ page: SwapCachePage, device: SwapDevice) -> Bool {
        page.lock()
        defer { page.unlock() }
        guard !page.isWriteback else { return false }
        if device.swapCache.delete(page) { device.slots.swapcacheFree(page.entry) }
        return true
    }

    /// Runs `body` holding `entry`'s has-cache bit, after dropping an older
    /// swap-cache page of the entry (waiting for its write). An entry that is
    /// not in use has no swap-cache protocol to follow: `body` just runs.
    func holdingSwapCacheBit<T>(
        _ entry: SwapEntry, device: SwapDevice, _ body: () throws(ZCacheError) -> T
    ) throws(ZCacheError) -> T {
        while true {
            // The has-cache bit first (see "Order" at the top of the file).
            switch device.slots.swapcachePrepare(entry) {
            case .prepared:
                defer { device.slots.swapcacheFree(entry) }
                return try body()
            case .notInUse:
                return try body()
            case .alreadyPrepared:
                guard let cached = device.swapCache.find(entry) else {
                    device.waitWhileBeingPrepared(entry)
                    continue
                }
                // An older page of the entry: dropped once any write of it ended.
                defer { cached.release() }
                if !removeFromSwapCache(cached, device: device) {
                    SwapEntryWaitTable.wait(on: entry) { cached.isWriteback }
                }
            }
        }
    }

    func attachedDevice(type: Int) throws(ZCacheError) -> SwapDevice {
        guard let device = writeback.device(type: type) else { throw badInput(.noSwapDevice(type)) }
        return device
    }
}
