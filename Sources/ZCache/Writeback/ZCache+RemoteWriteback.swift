// Writeback to the remote tier (see `Remote/RemotePageStore.swift` for the
// picture). Pages leave still compressed, as RAMster's did: no decompression
// and no gathered page on the way out.
//
//   1. victims, as for the swap file: the LRU persistent frame made a zombie
//      (zbud) or the oldest entries isolated (per-entry LRU), up to a batch
//   2. per victim, with the swap-cache protocol of `writebackBud`:
//        a page of the entry in the swap cache -> it is newer: flush the zpage
//        entry freed                           -> nothing to do (stale)
//        entry busy (someone holds has-cache)  -> skip it: we hold other
//                                                 entries' bits, so we never wait
//        prepared (we hold has-cache)          -> copy the compressed bytes out
//                                                 (TMem peek: the zpage stays)
//   3. one `storePages` for the batch, no lock held
//   4. per page, still holding the entry's has-cache bit (a swap-in or free of
//      the entry waits for it, so it never sees a half-moved page):
//        acknowledged -> record the entry as remote, then flush the zpage
//        refused      -> swap file behind: the swap file's writeback of the
//                        zpage; else the zpage stays in zcache
//      then the bit is released and the isolation ended.
//
// A zbud frame whose pages the store refused stays a zombie: its pages stay
// readable and leave when they are loaded or invalidated (zbud has no way
// back to its LRU), as with a refused swap-file writeback.

import Logging
import SwapDevice
import TMem
import ZCacheSupport

extension CompressorKind {
    /// The codec's id in a remote page (a page of another codec is refused).
    var remoteCodecID: UInt8 {
        switch self {
        case .lz4: 1
        case .zlib: 2
        case .zstd: 3
        }
    }
}

extension ZCache {
    /// Where writeback sends persistent pages.
    public var writebackTarget: WritebackTarget {
        guard let remote else { return .swapFile }
        return remote.swapFileBehind ? .remoteThenSwapFile : .remote
    }

    /// A victim whose compressed bytes were copied out, its entry's has-cache bit held.
    private struct RemoteCandidate {
        var key: TMemKey
        var handle: ZPageHandle
        var entry: SwapEntry
        var device: SwapDevice
        var page: RemotePage
    }

    /// Writes back up to `pageframes` LRU persistent frames (zbud) or entries
    /// to the remote tier, in batches. Returns the pages the store
    /// acknowledged plus those written to the swap file behind it, as
    /// `.submitted`; `.remoteRefused` when the store failed and nothing was written.
    func remoteWriteback(_ remote: RemoteWriteback, pageframes: Int, plug: WritebackPlug)
        -> WritebackOutcome
    {
        guard configuration.writebackEnabled else { return .disabled }
        defer { flushRemoteDeletes() }
        var frames = 0
        var written = 0
        var failed = false
        while frames < pageframes, !failed {
            var candidates: [RemoteCandidate] = []
            var taken: [ZPageHandle] = []
            while frames < pageframes, candidates.count < remote.batchPages {
                // A "pageframe" is a zbud frame (up to two buds), or two
                // per-entry LRU entries, as in the swap file's writeback.
                let perEntry = store.persistent.frameLRU == nil
                let framesLeft = pageframes - frames
                let wanted =
                    perEntry
                    ? min(
                        framesLeft >= remote.batchPages ? remote.batchPages : framesLeft * 2,
                        remote.batchPages - candidates.count) : 2
                let found = withWritebackVictims(upTo: wanted) { victims in
                    frames += perEntry ? (victims.count + 1) / 2 : victims.isEmpty ? 0 : 1
                    for victim in victims {
                        taken.append(victim.handle)
                        if let candidate = remoteCandidate(victim.key, victim.handle) {
                            candidates.append(candidate)
                        }
                    }
                    return !victims.isEmpty
                }
                guard found else { break }
            }
            if taken.isEmpty { break }
            let stored = storeRemotely(candidates, remote.store)
            for (candidate, acknowledged) in zip(candidates, stored) {
                if acknowledged {
                    commitRemote(candidate)
                    written += 1
                } else {
                    // The store is failing: this batch's refusals end the pass.
                    failed = true
                    candidate.device.slots.swapcacheFree(candidate.entry)
                    if remote.swapFileBehind,
                        writebackToSwapFile(
                            key: candidate.key, handle: candidate.handle, plug: plug)
                    {
                        written += 1
                    }
                }
            }
            for handle in taken { store.finishIsolation(handle) }
        }
        if frames == 0 { return .nothingToWriteBack }
        // A failing store that took nothing ends the caller's loop too (the
        // victims went back to the LRU and would be taken again).
        return failed && written == 0 ? .remoteRefused : .submitted(written)
    }

    /// Step 2 for one victim: the candidate, holding its entry's has-cache
    /// bit, or nil when the victim is not to be written (the bit not taken).
    private func remoteCandidate(_ key: TMemKey, _ handle: ZPageHandle) -> RemoteCandidate? {
        guard let slot = swapSlot(of: key) else { return nil }
        let (entry, device) = slot
        // The swap cache's page is newer: flush the zpage, as `writebackBud` does.
        if flushZPageIfSwapCached(key, handle, entry, device) { return nil }
        switch device.slots.swapcachePrepare(entry) {
        case .prepared: break
        case .notInUse:
            counters.writebackDroppedStale.increment()
            return nil
        case .alreadyPrepared: return nil
        }
        let page = withUnsafeTemporaryAllocation(byteCount: pageSize, alignment: 16) {
            scratch -> RemotePage? in
            // Under the bucket lock only the copy; the array is built after.
            let start = store.keyPrefixSize(key)
            let size = try? tmem.peek(key, ifHandle: handle) { found -> Int? in
                guard !found.isSameFilled,
                    store.copyOut(found, keyPrefixSize: start, into: scratch, release: false)
                else { return nil }
                return found.size
            }
            guard let size else { return nil }
            return RemotePage(
                codec: configuration.compressor.remoteCodecID,
                data: Array(UnsafeRawBufferPointer(rebasing: scratch[start..<(start + size)])))
        }
        guard let page else {
            device.slots.swapcacheFree(entry)  // the zpage went away meanwhile
            return nil
        }
        return RemoteCandidate(key: key, handle: handle, entry: entry, device: device, page: page)
    }

    /// Step 3: one batch to the store, timed and counted. Returns per
    /// candidate whether the store acknowledged it.
    private func storeRemotely(_ candidates: [RemoteCandidate], _ store: any RemotePageStore)
        -> [Bool]
    {
        guard !candidates.isEmpty else { return [] }
        let generation = remoteResidency.nextGeneration()
        let keys = candidates.map {
            RemotePageKey(type: $0.entry.type, offset: $0.entry.offset, generation: generation)
        }
        let started = RemoteTierCounters.now()
        let results = store.storePages(Array(zip(keys, candidates.map(\.page))))
        remoteCounters.recordRoundTrip(nanoseconds: RemoteTierCounters.now() - started)
        var acknowledged = [Bool](repeating: false, count: candidates.count)
        var firstError: (any Error)?
        var refused: [RemotePageKey] = []
        for (i, candidate) in candidates.enumerated() {
            switch i < results.count ? results[i] : nil {
            case .success?:
                remoteCounters.puts.add(1, ordering: .relaxed)
                remoteCounters.bytes.add(candidate.page.data.count, ordering: .relaxed)
                remoteResidency.record(candidate.entry, generation: generation)
                acknowledged[i] = true
            case .failure(let error)?:
                remoteCounters.errors.add(1, ordering: .relaxed)
                firstError = firstError ?? error
                refused.append(keys[i])
            case nil:
                remoteCounters.errors.add(1, ordering: .relaxed)
                refused.append(keys[i])
            }
        }
        if let firstError { logRemoteFailure("store of a writeback batch", firstError) }
        // A refused put may still have left its value (stored, not replicated
        // in time): no record names it, so it is deleted with the others.
        for key in refused { queueRemoteDelete(key) }
        return acknowledged
    }

    /// Step 4 for an acknowledged page: the entry is recorded remote (by
    /// `storeRemotely`); the zpage goes, then the bit.
    private func commitRemote(_ candidate: RemoteCandidate) {
        let flushed =
            (try? tmem.flushPage(candidate.key, ifHandle: candidate.handle, counted: false))
            ?? false
        if !flushed, let key = remoteResidency.forget(candidate.entry) {
            // The zpage changed under us (a direct frontswap store): the
            // remote copy is stale, and zcache's copy is the page.
            queueRemoteDelete(key)
        }
        candidate.device.slots.swapcacheFree(candidate.entry)
    }

    /// The swap file's writeback of one zpage (the remote store refused it):
    /// a cap slot and a page gathered for it, as `writebackPageframe` does.
    private func writebackToSwapFile(key: TMemKey, handle: ZPageHandle, plug: WritebackPlug) -> Bool
    {
        let reserved = counters.outstandingWritebackPages.reserve(
            upTo: 1, limit: configuration.maxOutstandingWritebackPages)
        guard reserved == 1 else {
            counters.writebackCapReached.increment()
            return false
        }
        guard let page = gatherPage() else {
            releaseOutstanding(1)
            return false
        }
        if writebackBud(key: key, handle: handle, page: page, plug: plug) { return true }
        releaseGathered(page)
        releaseOutstanding(1)
        return false
    }

    // MARK: Swap-in and free

    /// Swap-in's remote step: if `entry`'s page lives in the remote tier,
    /// fetches and decompresses it into `page` and forgets the remote copy
    /// (the caller now holds the page; the key is deleted in a later batch).
    /// Returns false when the entry has no remote page. A page the tier
    /// cannot give is `.remotePageUnavailable` naming the entry, the record
    /// kept so the swap-in can be retried.
    func remoteLoad(_ entry: SwapEntry, into page: UnsafeMutableRawBufferPointer)
        throws(ZCacheError) -> Bool
    {
        guard let remote, let key = remoteResidency.key(of: entry) else { return false }
        let started = RemoteTierCounters.now()
        let result = remote.store.loadPages([key]).first
        remoteCounters.recordRoundTrip(nanoseconds: RemoteTierCounters.now() - started)
        remoteCounters.gets.add(1, ordering: .relaxed)
        let fetched: RemotePage
        switch result {
        case .success(let found?)?:
            fetched = found
        case .success(nil)?:
            remoteCounters.errors.add(1, ordering: .relaxed)
            throw .remotePageUnavailable(entry, "the remote tier does not hold it")
        case .failure(let error)?:
            remoteCounters.errors.add(1, ordering: .relaxed)
            throw .remotePageUnavailable(entry, "\(error)")
        case nil:
            remoteCounters.errors.add(1, ordering: .relaxed)
            throw .remotePageUnavailable(entry, "the store gave no answer")
        }
        guard fetched.codec == configuration.compressor.remoteCodecID else {
            remoteCounters.errors.add(1, ordering: .relaxed)
            throw .remotePageUnavailable(entry, "written with codec id \(fetched.codec)")
        }
        let decompressed = fetched.data.withUnsafeBytes {
            bytes -> Result<Void, DecompressionError> in
            do throws(DecompressionError) {
                try compressor.decompress(bytes, into: page)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        if case .failure(let error) = decompressed {
            remoteCounters.errors.add(1, ordering: .relaxed)
            counters.decompressErrors.increment()
            throw .remotePageUnavailable(entry, "\(error)")
        }
        remoteCounters.getHits.add(1, ordering: .relaxed)
        if let key = remoteResidency.forget(entry) { queueRemoteDelete(key) }
        return true
    }

    /// The entry's last reference went: its remote page, if any, becomes
    /// unreachable now (the record) and is deleted in a later batch.
    func forgetRemotePage(_ entry: SwapEntry) {
        guard remote != nil, let key = remoteResidency.forget(entry) else { return }
        queueRemoteDelete(key)
    }

    private func queueRemoteDelete(_ key: RemotePageKey) {
        guard let remote else { return }
        let due = remoteResidency.queueDelete(key, batch: remote.batchPages)
        if !due.isEmpty { deleteRemotely(due, remote.store) }
    }

    /// Deletes every queued key of pages no longer reachable (also done when
    /// a batch fills, and after each remote writeback pass).
    public func flushRemoteDeletes() {
        guard let remote else { return }
        let due = remoteResidency.takeDeletes()
        if !due.isEmpty { deleteRemotely(due, remote.store) }
    }

    private func deleteRemotely(_ keys: [RemotePageKey], _ store: any RemotePageStore) {
        // A failed delete leaves an unreachable key behind (no record names
        // it, and its generation is never reused): counted, not retried.
        var firstError: (any Error)?
        for case .failure(let error) in store.deletePages(keys) {
            remoteCounters.errors.add(1, ordering: .relaxed)
            firstError = firstError ?? error
        }
        if let firstError { logRemoteFailure("delete of unreachable pages", firstError) }
    }

    /// One line per failing batch (not per page: a cluster down fails them all).
    private func logRemoteFailure(_ what: String, _ error: any Error) {
        logger?.warning(
            "zcache: remote tier \(what) failed; pages stay where they were",
            metadata: ["error": "\(error)"])
    }
}

extension ZCache {
    /// The remote key of `entry`'s page, if it lives in the remote tier (tests
    /// reach the stored value with it).
    package func remotePageKey(of entry: SwapEntry) -> RemotePageKey? {
        remoteResidency.key(of: entry)
    }
}
