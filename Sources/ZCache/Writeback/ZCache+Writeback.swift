// Writeback: from persistent pageframes to the swap device (the seed's patch).
//
//   1. reserve outstanding-writeback slots (hard cap), gather up to two free
//      pages: the pool without forcing, else an evicted ephemeral frame, else
//      the host "forcing"
//   2. take the victims: zombify the LRU persistent frame (zbud), or isolate
//      the LRU persistent entries (per-entry LRU); their data stays readable.
//      Everything below works on (key, handle) pairs.
//   3. per bud: unswizzle its key to a swap entry, then, as read_swap_cache_async
//      (claiming the has-cache bit before looking in the swap cache: a cached
//      page holds the bit, so only a refused claim can have one):
//        entry's page already in the swap cache -> that page is newer:
//                                                  invalidate this zcache copy
//        slot being prepared by someone else   -> sleep until it is not, retry
//        slot not in use (freed)               -> nothing to do: the entry's last
//                                                 swapFree invalidated this copy
//                                                 (the key may already hold a
//                                                 later owner's page: left alone)
//        prepared                              -> 4.
//   4. load the zpage exclusively (decompress, free its bud) into a new page,
//      mark it up to date and under writeback, put it in the swap cache, and
//      queue it in the pass's plug; outstanding += 1
//   5. on completion: outstanding -= 1, writtenback_pages += 1, the page leaves
//      the swap cache unless a swap-in holds it, the gathered page goes back.
//      A failed write leaves the page in the swap cache, dirty; it is resubmitted
//      on the I/O queue itself (from the completion, which never waits for queue
//      space) up to `maxWriteRetries` times, and otherwise stays there for swap-in.
//
// The pipeline: a writeback pass decompresses frame after frame on the calling
// thread while the device's I/O workers write the pages already decompressed.
// Pages go to the device in plugs of `WritebackPlug.capacity` (the kernel's
// blk_plug), one queue lock and one worker wake per plug, not per page; a plug
// is submitted when full, at the end of the pass, and before the pass sleeps
// on a busy entry (whose holder may be waiting for a page in the plug).
//
// Seed defects not copied: writeback proceeds whenever each bud has a page
// from any source (the seed tested variables that were only set when both
// allocations failed, so it never ran); the cap is checked before every
// submission, not only after a failed eviction, so outstanding writeback never
// exceeds it.

import SwapDevice
import TMem
import ZBud
import ZCacheSupport

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
        /// The remote tier refused or failed every page (and no swap file took them).
        case remoteRefused
    }

    /// A page gathered for writeback: a frame of zcache's pool (taken without
    /// forcing or by evicting an ephemeral frame) or a page of the host's.
    enum GatheredPage: Sendable {
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
    /// Returns the number of pages submitted to the device (a frame whose buds
    /// were all stale or newer in the swap cache submits none).
    @discardableResult
    public func writeback(pageframes: Int) -> Int {
        let plug = WritebackPlug()
        defer { plug.submit() }
        if let remote {
            guard
                case .submitted(let pages) = remoteWriteback(
                    remote, pageframes: pageframes, plug: plug)
            else { return 0 }
            return pages
        }
        var frames = 0
        var pages = 0
        while frames < pageframes {
            guard case .submitted(let submitted) = writebackPageframe(plug: plug) else { break }
            frames += 1
            pages += submitted
        }
        return pages
    }

    /// Waits until every submitted write (writeback and host writes) completed,
    /// resubmissions of failed writes included.
    public func waitForWriteback() {
        writeback.drain()
    }

    /// Waits until the outstanding-writeback count leaves room for a plug's
    /// worth of pages (or the whole cap when it is smaller), so that a caller
    /// that found the cap reached can go on without polling, and writes a full
    /// plug rather than one frame per wake-up.
    public func waitForWritebackRoom() {
        let cap = configuration.maxOutstandingWritebackPages
        let room = min(WritebackPlug.capacity, cap)
        writeback.progress.wait(while: { counters.outstandingWritebackPages.value > cap - room })
    }

    /// Writes back the LRU persistent pageframe, queueing its pages in `plug`.
    func writebackPageframe(plug: WritebackPlug) -> WritebackOutcome {
        guard configuration.writebackEnabled else { return .disabled }
        if let remote { return remoteWriteback(remote, pageframes: 1, plug: plug) }
        // A frame holds up to two buds: reserve two cap slots and two pages
        // before touching it, so both buds can be written (the seed's intent).
        // Only a cap below two makes do with one: the frame's other bud then
        // stays a readable zombie until it is loaded or invalidated.
        let wanted = min(2, configuration.maxOutstandingWritebackPages)
        let reserved = counters.outstandingWritebackPages.reserve(
            upTo: wanted, limit: configuration.maxOutstandingWritebackPages)
        guard wanted > 0, reserved == wanted else {
            releaseOutstanding(reserved)
            if counters.writebackCapReached.increment() == 1 { logCapReachedFirstTime() }
            return .capReached
        }
        // The pages and the victims live on the stack: nothing is allocated
        // per frame written back.
        return withUnsafeTemporaryAllocation(of: GatheredPage.self, capacity: wanted) { pages in
            var gathered = 0
            while gathered < wanted, let page = gatherPage() {
                pages.initializeElement(at: gathered, to: page)
                gathered += 1
            }
            var used = 0
            defer {
                // Pages and cap slots gathered but not needed go back.
                for page in pages[used..<gathered] { releaseGathered(page) }
                releaseOutstanding(wanted - used)
                _ = UnsafeMutableBufferPointer(rebasing: pages[..<gathered]).deinitialize()
            }
            guard gathered == wanted else { return .noMemory }
            // The victims, in one place: whatever chooses them, the rest of
            // writeback sees only (key, handle) pairs.
            return withWritebackVictims(upTo: wanted) { victims in
                guard !victims.isEmpty else { return .nothingToWriteBack }
                for victim in victims.prefix(wanted) {
                    // Pages are used from the front, so pages[used...] are the spares.
                    if writebackBud(
                        key: victim.key, handle: victim.handle, page: pages[used], plug: plug)
                    {
                        used += 1
                    }
                }
                // Isolated LRU entries end here (freed if written, else back on the LRU).
                for victim in victims { store.finishIsolation(victim.handle) }
                return .submitted(used)
            }
        }
    }

    /// Runs `body` on the LRU persistent pages to write back (step 2), with
    /// their keys: the buds of the LRU frame made a zombie (zbud), else the
    /// oldest `count` entries of the per-entry LRU, isolated (the caller ends
    /// each isolation). On the stack for a small `count`: nothing allocated
    /// per frame written back.
    func withWritebackVictims<R>(upTo count: Int, _ body: (UnsafeBufferPointer<Victim>) -> R)
        -> R
    {
        guard let frames = store.persistent.frameLRU else {
            return withOldestIsolated(.persistent, upTo: count, body)
        }
        let buds = frames.zombifyLRUFrame()
        return withVictims(
            count: buds.count,
            { position in
                (
                    TMemKey(buds[position].owner),
                    ZPageHandle(allocation: buds[position].ref.rawValue, class: .persistent)
                )
            }, body)
    }

    /// Step 1's sources, in the seed's order.
    func gatherPage() -> GatheredPage? {
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

    func releaseGathered(_ page: GatheredPage) {
        switch page {
        case .frame(let frame):
            counters.writebackFramesHeld.add(-1)
            store.pool.free(frame)
        case .host:
            host?.freeForcedPage()
        }
    }

    /// Gives back `count` outstanding-writeback slots and wakes whoever waits
    /// for room or for writeback to end.
    func releaseOutstanding(_ count: Int) {
        guard count > 0 else { return }
        counters.outstandingWritebackPages.add(-count)
        writeback.progress.wake()
    }

    /// The swap slot a frontswap key names, on its attached device; nil for
    /// a key of another pool or a type with no device.
    func swapSlot(of key: TMemKey) -> (entry: SwapEntry, device: SwapDevice)? {
        guard key.pool == frontswapPool else { return nil }
        let (type, offset) = FrontswapKey.unswizzle(object: key.object, index: key.index)
        guard let device = writeback.device(type: type),
            let entry = SwapEntry(type: type, offset: offset)
        else { return nil }
        return (entry, device)
    }

    /// If `entry` has a page in the swap cache, that page is newer than the
    /// zpage (a cached page is never older than zcache): flushes the zpage
    /// (`key` if it still maps to `handle`) and returns true. The flush runs
    /// under the page's lock while the page is still cached, so the page keeps
    /// the slot allocated and the key cannot pass to a later owner of the slot
    /// meanwhile. False when there is no page, or it left before the lock.
    /// `beforeLock` runs first when there is one (writeback submits its plug).
    func flushZPageIfSwapCached(
        _ key: TMemKey, _ handle: ZPageHandle, _ entry: SwapEntry, _ device: SwapDevice,
        beforeLock: () -> Void = {}
    ) -> Bool {
        guard let cached = device.swapCache.find(entry) else { return false }
        defer { cached.release() }
        beforeLock()
        cached.lock()
        defer { cached.unlock() }
        guard device.swapCache.contains(cached) else { return false }
        counters.writebackSwapCacheExisted.increment()
        _ = try? tmem.flushPage(key, ifHandle: handle, counted: false)
        return true
    }

    /// Steps 3 and 4 for one victim bud. Returns whether its page was queued
    /// for writing (the write then owns `gathered` and one outstanding slot).
    func writebackBud(
        key: TMemKey, handle: ZPageHandle, page gathered: GatheredPage, plug: WritebackPlug
    ) -> Bool {
        // Only frontswap's pages have a swap entry; a user's persistent pool
        // keeps its zombie until the page is got or flushed.
        guard let slot = swapSlot(of: key) else { return false }
        let (entry, device) = slot

        // The has-cache bit is claimed first: a page in the swap cache holds
        // the bit, so a claim that succeeds proves there is none, and only a
        // refused claim needs the swap-cache lookup (one swap-cache lock per
        // page fewer than looking up first, with the same outcomes).
        while true {
            switch device.slots.swapcachePrepare(entry) {
            case .prepared:
                break
            case .alreadyPrepared:
                // Whoever holds the cached page may be waiting for a page in the plug.
                if flushZPageIfSwapCached(key, handle, entry, device, beforeLock: plug.submit) {
                    return false
                }
                plug.submit()
                device.waitWhileBeingPrepared(entry)
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

        // The page goes in locked and not up to date *before* the zpage is
        // taken out, so a store or swap-in of this entry waits for it
        // (read_swap_cache_async).
        let swapPage = device.swapCache.addLockedPage(for: entry)
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
        // between the unlock and the submission, nor when our reference goes
        // while the page waits in the plug.
        swapPage.setFlags([.upToDate, .writeback])
        swapPage.unlock()
        writeback.activeWrites.add(1, ordering: .relaxed)
        // Our reference goes to the plug, which gives it back once the write
        // holds its own.
        plug.add(
            PendingWrite(
                cache: self, page: swapPage, device: device, attempt: 0,
                then: .writeback(gathered)
            ).request, for: device)
        return true
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
        device.submitWritebacks([
            PendingWrite(cache: self, page: page, device: device, attempt: 0, then: .call(finished))
                .request
        ])
    }

    /// The completion of `write` (see `submitToDevice`), on an I/O worker: a
    /// failed write that should be tried again goes back on the I/O queue
    /// itself (a completion's submission never waits for queue space);
    /// otherwise the write is finished and leaves `activeWrites`.
    fileprivate func completed(_ write: PendingWrite, _ result: Result<Void, SwapIOError>) {
        let written: Bool
        if case .success = result {
            written = true
        } else if let again = retriableAfterFailedWrite(
            write.page, write.device, attempt: write.attempt, result: result)
        {
            counters.writebackRetries.increment()
            write.device.submitWritebacks([
                PendingWrite(
                    cache: self, page: again, device: write.device, attempt: write.attempt + 1,
                    then: write.then
                ).request
            ])
            again.release()
            return
        } else {
            written = false
        }
        switch write.then {
        case .writeback(let gathered):
            if written { counters.writtenbackPages.increment() }
            releaseGathered(gathered)
            // Its outstanding slot and its place in `activeWrites` go back
            // together, with one wake for whoever waits on either.
            counters.outstandingWritebackPages.add(-1)
            writeback.writeFinished()
        case .call(let finished):
            finished(written)
            writeback.writeFinished()
        }
    }

    /// After a failed write of `page`: the page again, with a new reference and
    /// flagged `writeback`, if it should be written again; nil when it is given
    /// up (left in the swap cache, dirty, for swap-in), replaced by a newer
    /// store, or dropped with its slot because the entry was freed while the
    /// write was in flight.
    private func retriableAfterFailedWrite(
        _ page: SwapCachePage, _ device: SwapDevice, attempt: Int, result: Result<Void, SwapIOError>
    ) -> SwapCachePage? {
        counters.writebackWriteErrors.increment()
        logWriteError(result, page.entry, device, attempt: attempt)
        guard let again = lockedIfStillCached(page, device) else {
            return nil  // a newer store replaced the page: its data is in zcache
        }
        if device.slots.useCount(page.entry) == 0 {
            // The entry was freed while its write was in flight (swapFree left
            // the page to us): nobody will swap it in, so drop it and free the
            // slot instead of keeping it dirty for ever.
            if device.swapCache.delete(again) { device.slots.swapcacheFree(again.entry) }
        } else if attempt < WritebackEngine.maxWriteRetries {
            again.setFlags(.writeback)
            again.unlock()
            return again
        } else {
            logRetriesGivenUp(page.entry, device)
        }
        again.unlock()
        again.release()
        return nil
    }

    /// `page` locked with a new reference, if it is still its entry's cached
    /// page and not under writeback; otherwise nil.
    func lockedIfStillCached(_ page: SwapCachePage, _ device: SwapDevice) -> SwapCachePage? {
        guard let found = device.swapCache.find(page.entry) else { return nil }
        guard found === page else {
            found.release()
            return nil
        }
        found.lock()
        guard device.swapCache.contains(found), !found.isWriteback else {
            found.unlock()
            found.release()
            return nil
        }
        return found
    }
}

/// One attempt at writing a swap-cache page to its slot, and what follows the
/// write. Its I/O completion is one closure holding this value: one heap
/// object per page written, not an object and a closure around it. A retry
/// is a new `PendingWrite` with the next attempt number.
private struct PendingWrite: Sendable {
    /// What runs once the write is finished (written, or given up).
    enum Then: Sendable {
        /// A writeback pass's page: count it if written, give back the page
        /// gathered for it and its outstanding-writeback slot.
        case writeback(ZCache.GatheredPage)
        /// Another submitter's: call this with whether the page was written.
        case call(@Sendable (Bool) -> Void)
    }

    let cache: ZCache
    let page: SwapCachePage
    let device: SwapDevice
    let attempt: Int
    let then: Then

    /// The device request for this attempt.
    var request: SwapDevice.WritebackRequest {
        SwapDevice.WritebackRequest(page: page, reclaim: true) { [self] result in
            cache.completed(self, result)
        }
    }
}

/// Pages a writeback pass has decompressed and flagged for writeback but not
/// yet handed to their device: submitted together, one queue lock and one
/// worker wake per plug (the kernel's `blk_plug`). Used by one thread.
///
/// The plug holds the pass's reference to each page and releases it after
/// the submission has taken the write's: released before, a page's last
/// reference would go while it waits here, and each release would look in
/// the swap cache for a drop that cannot happen yet.
final class WritebackPlug {
    /// Pages per submission: enough to amortise the wake, few enough that the
    /// I/O workers start while the pass is still decompressing.
    static let capacity = 16

    private var device: SwapDevice?
    private var requests: [SwapDevice.WritebackRequest] = []

    init() { requests.reserveCapacity(Self.capacity) }

    /// A plug dropped with pages still queued submits them: they hold cap
    /// slots and their entries' has-cache bits, and must be written.
    deinit { submit() }

    /// Queues `request` for `device`, taking over the caller's reference to
    /// its page; submits first if the plug holds another device's pages, and
    /// after if it is full.
    func add(_ request: SwapDevice.WritebackRequest, for device: SwapDevice) {
        if let current = self.device, current !== device { submit() }
        self.device = device
        requests.append(request)
        if requests.count >= Self.capacity { submit() }
    }

    /// Submits every queued page, then gives back the references it held.
    func submit() {
        guard let device, !requests.isEmpty else { return }
        device.submitWritebacks(requests)
        for request in requests { request.page.release() }
        requests.removeAll(keepingCapacity: true)
    }
}
