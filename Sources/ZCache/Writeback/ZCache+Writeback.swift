// Writeback: from persistent pageframes to the swap device (the seed's patch).
//
//   1. reserve outstanding-writeback slots (hard cap), gather up to two free
//      pages: the pool without forcing, else an evicted ephemeral frame, else
//      the host "forcing"
//   2. zombify the LRU persistent frame (zbud), or isolate the LRU persistent
//      entries (per-entry LRU); their data stays readable
//   3. per bud: unswizzle its key to a swap entry, then, as read_swap_cache_async:
//        entry's page already in the swap cache -> that page is newer:
//                                                  invalidate this zcache copy
//        slot being prepared by someone else   -> retry
//        slot not in use (freed)               -> drop this zcache copy
//        prepared                              -> 4.
//   4. load the zpage exclusively (decompress, free its bud) into a new page,
//      mark it up to date, put it in the swap cache, and submit it to the device
//      for writeback with reclaim, bypassing zcache; outstanding += 1
//   5. on completion: outstanding -= 1, writtenback_pages += 1, the page leaves
//      the swap cache unless a swap-in holds it, the gathered page goes back.
//      A failed write leaves the page in the swap cache, dirty; it is resubmitted
//      up to `maxWriteRetries` times and otherwise stays there for swap-in.
//
// Seed defects not copied: writeback proceeds whenever each bud has a page
// from any source (the seed tested variables that were only set when both
// allocations failed, so it never ran); the cap is checked before every
// submission, not only after a failed eviction, so outstanding writeback never
// exceeds it.

import Dispatch
import SwapDevice
import TMem
import ZBud
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

extension ZCache {
    /// Why writeback of a pageframe did not happen.
    enum WritebackOutcome: Equatable {
        /// Wrote back (submitted) this many pages.
        case submitted(Int)
        /// Writeback is turned off in the configuration.
        case disabled
        /// The outstanding-writeback cap is reached.
        case capReached
        /// No page could be had for the decompressed data.
        case noMemory
        /// No persistent frame can be written back.
        case nothingToWriteBack
    }

    /// A page gathered for writeback: a frame of zcache's pool (taken without
    /// forcing or by evicting an ephemeral frame) or a page of the host's.
    enum GatheredPage {
        case frame(PageFrameNumber)
        case host
    }

    /// Attaches the swap device for `device.type` and initialises that frontswap type.
    public func attachSwapDevice(_ device: SwapDevice) throws(ZCacheError) {
        try frontswapInit(type: device.type)
        writeback.attach(device)
    }

    /// The swap device attached for `type`, if any.
    public func swapDevice(type: Int) -> SwapDevice? { writeback.device(type: type) }

    /// Writes back up to `pageframes` persistent pageframes now, LRU first.
    /// Stops early when the cap is reached, memory runs out or nothing is left.
    /// Returns the number of pageframes whose pages were submitted.
    @discardableResult
    public func writeback(pageframes: Int) -> Int {
        var done = 0
        while done < pageframes {
            guard case .submitted = writebackPageframe() else { break }
            done += 1
        }
        return done
    }

    /// Waits until every submitted write (writeback and host writes) completed,
    /// resubmissions of failed writes included.
    public func waitForWriteback() {
        writeback.drain()
    }

    /// Writes back the LRU persistent pageframe.
    func writebackPageframe() -> WritebackOutcome {
        guard configuration.writebackEnabled else { return .disabled }
        // A frame holds up to two buds: reserve two cap slots and two pages
        // before touching it, so both buds can be written (the seed's intent).
        // Only a cap below two makes do with one: the frame's other bud then
        // stays a readable zombie until it is loaded or invalidated.
        let wanted = min(2, configuration.maxOutstandingWritebackPages)
        let reserved = counters.outstandingWritebackPages.reserve(
            upTo: wanted, limit: configuration.maxOutstandingWritebackPages)
        guard wanted > 0, reserved == wanted else {
            counters.outstandingWritebackPages.add(-reserved)
            counters.writebackCapReached.increment()
            return .capReached
        }
        var pages: [GatheredPage] = []
        while pages.count < wanted, let page = gatherPage() { pages.append(page) }
        var used = [false, false]
        defer {
            // Pages and cap slots gathered but not needed go back.
            for (page, used) in zip(pages, used) where !used {
                releaseGathered(page)
                counters.outstandingWritebackPages.add(-1)
            }
        }
        guard pages.count == wanted else {
            counters.outstandingWritebackPages.add(-(wanted - pages.count))
            return .noMemory
        }
        let victims = writebackVictims(upTo: pages.count)
        guard !victims.isEmpty else { return .nothingToWriteBack }
        for (index, victim) in victims.prefix(pages.count).enumerated() {
            used[index] = writebackBud(key: victim.key, handle: victim.handle, page: pages[index])
        }
        // Isolated LRU entries end here (freed if written, else back on the LRU).
        for victim in victims { store.finishIsolation(victim.handle) }
        return .submitted(used.filter { $0 }.count)
    }

    /// The LRU persistent pages to write back (step 2), with their keys: the
    /// buds of the LRU frame made a zombie (zbud), else the oldest `count`
    /// entries of the per-entry LRU, isolated.
    private func writebackVictims(upTo count: Int) -> [(key: TMemKey, handle: ZPageHandle)] {
        guard let frames = store.persistent.frameLRU else {
            return isolateOldest(.persistent, upTo: count)
        }
        return frames.zombifyLRUFrame().map {
            (TMemKey($0.owner), ZPageHandle(allocation: $0.handle, class: .persistent))
        }
    }

    /// Step 1's sources, in the seed's order.
    private func gatherPage() -> GatheredPage? {
        if let frame = store.pool.allocate() {
            counters.writebackFramesHeld.add(1)
            return .frame(frame)
        }
        counters.failedAlloc.increment()
        if let frame = retryEvictingEphemeral({ store.pool.allocate() }) {
            counters.writebackFramesHeld.add(1)
            return .frame(frame)
        }
        if let host, host.allocateForcedPage() { return .host }
        return nil
    }

    private func releaseGathered(_ page: GatheredPage) {
        switch page {
        case .frame(let frame):
            counters.writebackFramesHeld.add(-1)
            store.pool.free(frame)
        case .host:
            host?.freeForcedPage()
        }
    }

    /// Steps 3 to 5 for one zombie bud. Returns whether a write was submitted
    /// (which then owns `page` and one outstanding slot).
    private func writebackBud(key: TMemKey, handle: ZPageHandle, page gathered: GatheredPage)
        -> Bool
    {
        // Only frontswap's pages have a swap entry; a user's persistent pool
        // keeps its zombie until the page is got or flushed.
        guard key.pool == frontswapPool else { return false }
        let (type, offset) = FrontswapKey.unswizzle(object: key.object, index: key.index)
        guard let device = writeback.device(type: type),
            let entry = SwapEntry(type: type, offset: offset)
        else { return false }

        while true {
            if let cached = device.swapCache.find(entry) {
                defer { cached.release() }
                if cached.isUpToDate, cached.tryLock() {
                    // The swap cache's page is newer than this zpage:
                    // invalidate the zpage. Locked and still cached, the page
                    // keeps the slot allocated, so the key cannot belong to a
                    // later owner of the slot while we flush it.
                    if device.swapCache.contains(cached) {
                        counters.writebackSwapCacheExisted.increment()
                        _ = try? tmem.flushPage(key, ifHandle: handle, counted: false)
                        cached.unlock()
                        return false
                    }
                    cached.unlock()
                }
                sched_yield()
                continue
            }
            switch device.slots.swapcachePrepare(entry) {
            case .prepared:
                break
            case .alreadyPrepared:
                sched_yield()
                continue
            case .notInUse:
                // The entry was freed: its last swapFree invalidated this
                // zpage. Whatever the key holds now belongs to a later owner
                // of the slot, so it is left alone.
                counters.writebackDroppedStale.increment()
                return false
            }
            break
        }

        // We hold the slot's has-cache bit, so the add cannot fail. The page goes
        // in locked and not up to date *before* the zpage is taken out, so a
        // store or swap-in of this entry waits for it (read_swap_cache_async).
        let swapPage = SwapCachePage(entry: entry, flags: [.locked])
        let added = device.swapCache.add(swapPage)
        assert(added, "has-cache bit held, yet the swap cache had a page")
        let loaded: Bool
        do {
            loaded = try getPage(
                key, into: swapPage.buffer.bytes, ifHandle: handle, forceRemove: true)
        } catch {
            loaded = false  // decompress_errors counted; the damaged zpage is gone
        }
        guard loaded else {
            // The zpage went away meanwhile (loaded, invalidated or replaced).
            device.swapCache.delete(swapPage)
            device.slots.swapcacheFree(entry)
            swapPage.unlock()
            swapPage.release()
            return false
        }
        // Writeback is flagged before the unlock, so nobody drops the page
        // between the unlock and the submission.
        swapPage.setFlags(SwapCachePage.Flags([.upToDate, .writeback]))
        swapPage.unlock()
        submitWriteback(swapPage, on: device, gathered: gathered)
        swapPage.release()
        return true
    }

    /// Submits writeback `page` and, when it is done (written, or given up
    /// after retries and left dirty in the swap cache), ends the writeback.
    private func submitWriteback(
        _ page: SwapCachePage, on device: SwapDevice, gathered: GatheredPage
    ) {
        submitToDevice(page, on: device) { [self] written in
            if written { counters.writtenbackPages.increment() }
            counters.outstandingWritebackPages.add(-1)
            releaseGathered(gathered)
        }
    }

    /// Writes a swap-cache page (the caller holds a reference) to its slot; the
    /// page leaves the swap cache when written, unless someone holds it. A failed
    /// write keeps the page in the swap cache, dirty, and is resubmitted up to
    /// `maxWriteRetries` times; after that the page stays there for swap-in. A
    /// failed write of an entry freed meanwhile drops the page and its slot.
    /// `finished(written)` runs once, on an I/O worker.
    func submitToDevice(
        _ page: SwapCachePage, on device: SwapDevice, finished: @escaping @Sendable (Bool) -> Void
    ) {
        writeback.activeWrites.add(1, ordering: .relaxed)
        submitToDevice(page, on: device, attempt: 0) { [self] written in
            finished(written)
            writeback.activeWrites.subtract(1, ordering: .releasing)
        }
    }

    private func submitToDevice(
        _ page: SwapCachePage, on device: SwapDevice, attempt: Int,
        finished: @escaping @Sendable (Bool) -> Void
    ) {
        device.submitWriteback(page, reclaim: true) { [self] result in
            guard case .failure = result else { return finished(true) }
            counters.writebackWriteErrors.increment()
            guard let again = lockedIfStillCached(page, device) else {
                // A newer store replaced the page: its data is in zcache.
                return finished(false)
            }
            if device.slots.useCount(page.entry) == 0 {
                // The entry was freed while its write was in flight (swapFree
                // left the page to us): nobody will swap it in, so drop it
                // and free the slot instead of keeping it dirty for ever.
                if device.swapCache.delete(again) { device.slots.swapcacheFree(again.entry) }
                again.unlock()
                again.release()
                return finished(false)
            }
            guard attempt < WritebackEngine.maxWriteRetries else {
                // Given up: the page stays in the swap cache, dirty, where a
                // swap-in finds it.
                again.unlock()
                again.release()
                return finished(false)
            }
            counters.writebackRetries.increment()
            again.setFlags(.writeback)
            again.unlock()
            // Resubmit from another thread: an I/O worker must not wait for
            // queue space that only I/O workers can free.
            DispatchQueue.global().async {
                self.submitToDevice(again, on: device, attempt: attempt + 1, finished: finished)
                again.release()
            }
        }
    }

    func lockedIfStillCached(_ page: SwapCachePage, _ device: SwapDevice) -> SwapCachePage? {
        guard let found = device.swapCache.find(page.entry) else { return nil }
        guard found === page else {
            found.release()
            return nil
        }
        while !found.tryLock() { sched_yield() }
        guard device.swapCache.contains(found), !found.isWriteback else {
            found.unlock()
            found.release()
            return nil
        }
        return found
    }
}
