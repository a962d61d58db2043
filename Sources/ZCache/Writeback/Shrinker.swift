// The shrinker: zcache's answer to memory pressure (`shrink_zcache_memory`).
//
// A scan compares zcache's pageframes with the host's LRU lists:
//
//   nr_evict     = max(0, eph_pageframes  - (active_file + inactive_file))
//   nr_writeback = max(0, pers_pageframes - (active_anon + inactive_anon))
//
// and, under the default (seed) policy, evicts nr_evict ephemeral frames and
// writes back nr_writeback persistent frames (stopping when memory or the cap
// runs out). The seed's FIXME proposes writing back only when eviction did not
// free enough; that is the second policy. The third follows modern zswap's
// dynamic shrinker (mm/zswap.c, 6.8-6.11, `zswap_shrinker_count` and
// `shrink_memcg_cb`):
//
//   freeable = nr_writeback - min(nr_writeback, disk swap-ins reported since
//              the last scan)                     (nr_disk_swapins, consumed)
//   target   = freeable * pers_pageframes / pers_zpages  (the memory saving:
//              the better pages compress, the less writeback is worth)
//   walk the persistent LRU for `target` frames: a referenced frame (a bud
//   was added since the last walk) has its bit cleared and is rotated to the
//   MRU end (second chance); an unreferenced one is written back. Rotations
//   count against the target, as list_lru_walk's nr_to_walk does.
//   then, if the pool was full since the last scan (a persistent put found
//   no frame, or the pool limit refused puts), zswap's `shrink_worker`: walk
//   on in batches of up to 32 frames until the frames holding zpages fall to
//   the accept threshold of the pool's limit, giving up after 16 batches
//   that wrote nothing back (MAX_RECLAIM_RETRIES). This keeps the pool holding recent
//   pages: without it, a full pool of stale pages sends every newer page
//   straight to the device.
//
// Kept from zswap: the referenced bit set at store, the rotation counted as a
// scan, the swap-in counter consumed by the count, the compression-ratio
// scaling. Not kept: per-memcg LRUs and the stop when writeback meets a page
// already in the swap cache (writeback here skips that bud and goes on). The
// bit is per frame under zbud (its LRU is of frames: set when a bud is added)
// and per entry under other allocators (`EntryLRU`: set at store and on a get
// that leaves the page); with the per-entry LRU the walk's units are entries
// rotated and frames' worth of entries written. Ephemeral eviction is the
// seed's under every policy.
//
// One scan runs at a time. The count a scan returns is the correct
// `eph_pageframes - (active_file + inactive_file)` after the scan, not the
// seed's `eph - active_file + inactive_file`.

import Synchronization
import ZCacheSupport

/// How a shrinker scan turns the two excesses into work.
public enum ShrinkerPolicy: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The seed's policy: evict `nr_evict` ephemeral frames and write back
    /// `nr_writeback` persistent frames.
    case seed
    /// The seed's FIXME: free `nr_evict + nr_writeback` frames by eviction
    /// first, and write back only what eviction could not free (at most
    /// `nr_writeback`).
    case writebackIfEvictionShort = "writeback-if-eviction-short"
    /// Modern zswap's dynamic shrinker: the seed's eviction, and writeback of
    /// `nr_writeback` less the disk swap-ins reported since the last scan,
    /// scaled by the compression ratio, with a second chance for frames that
    /// got a bud since the last walk.
    case zswap

    /// The policy's name, as `zcache-sim --policy` takes it.
    public var description: String { rawValue }
}

/// What one shrinker scan did.
public struct ShrinkResult: Sendable, Equatable, Codable {
    /// Ephemeral frames the formula asked to evict.
    public var evictTarget = 0
    /// Persistent frames the policy asked to write back (the zswap policy:
    /// frames to walk, second chances included).
    public var writebackTarget = 0
    /// Ephemeral pageframes evicted and freed.
    public var evicted = 0
    /// Pages submitted to the swap device by writeback.
    public var writtenBack = 0
    /// Referenced persistent frames rotated instead of written back.
    public var secondChances = 0
    /// `max(0, eph_pageframes - (active_file + inactive_file))` after the scan:
    /// what is still reclaimable (the shrinker's return value, sign bug fixed).
    public var remaining = 0
    /// Frames freed by compacting the allocators after the scan (0 with zbud).
    public var compacted = 0
    /// Another scan was running; this one did nothing.
    public var skippedBusy = false

    /// A scan that did nothing.
    public init() {}
}

/// One scan at a time.
final class Shrinker: Sendable {
    let running = Atomic<Bool>(false)
    /// `pers_ate_eph_failed` (persistent puts that found no frame) at the
    /// last zswap-policy scan: a rise means the pool was full since.
    let persistentPutsFailedSeen = Atomic<Int>(0)
}

extension ZCache {
    /// Runs a shrinker scan with the attached host's LRU counts (none: all zero).
    @discardableResult
    public func shrinkerScan() -> ShrinkResult {
        shrinkerScan(
            counts: host?.lruCounts()
                ?? HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0))
    }

    /// Runs a shrinker scan with the given LRU counts.
    @discardableResult
    public func shrinkerScan(counts: HostLRUCounts) -> ShrinkResult {
        var result = ShrinkResult()
        guard
            shrinker.running.compareExchange(expected: false, desired: true, ordering: .acquiring)
                .exchanged
        else {
            result.skippedBusy = true
            return result
        }
        defer { shrinker.running.store(false, ordering: .releasing) }
        counters.shrinkerScans.increment()
        counters.lastActiveFilePageframes.store(counts.activeFile, ordering: .relaxed)
        counters.lastInactiveFilePageframes.store(counts.inactiveFile, ordering: .relaxed)
        counters.lastActiveAnonPageframes.store(counts.activeAnon, ordering: .relaxed)
        counters.lastInactiveAnonPageframes.store(counts.inactiveAnon, ordering: .relaxed)

        let fileLRU = counts.activeFile + counts.inactiveFile
        let anonLRU = counts.activeAnon + counts.inactiveAnon
        result.evictTarget = max(0, store.ephemeral.framesInUse - fileLRU)
        result.writebackTarget = max(0, store.persistent.framesInUse - anonLRU)

        switch configuration.shrinkerPolicy {
        case .seed:
            result.evicted = evictEphemeralPageframes(result.evictTarget)
            result.writtenBack = writeback(pageframes: result.writebackTarget)
        case .writebackIfEvictionShort:
            let wanted = result.evictTarget + result.writebackTarget
            result.evicted = evictEphemeralPageframes(wanted)
            let shortfall = min(result.writebackTarget, wanted - result.evicted)
            result.writtenBack = writeback(pageframes: shortfall)
        case .zswap:
            result.evicted = evictEphemeralPageframes(result.evictTarget)
            result.writebackTarget = zswapWritebackTarget(excess: result.writebackTarget)
            let dynamic = writebackWithSecondChance(walking: result.writebackTarget)
            let worker = writebackWhilePoolWasFull()
            result.writtenBack = dynamic.pages + worker.pages
            result.secondChances = dynamic.rotated + worker.rotated
        }
        // Objects that can move are packed together again (zsmalloc), and
        // frames that have stayed free go back to the OS: with nothing freed
        // afterwards, no pool free would ever give them back.
        result.compacted = compact()
        store.pool.releaseIdleFrames()
        result.remaining = max(0, store.ephemeral.framesInUse - fileLRU)
        return result
    }
}

// MARK: - The zswap policy

extension ZCache {
    /// Reports pages the host swapped in from the swap device (not from
    /// zcache or the swap cache): a sign that writeback went too far, which
    /// the next zswap-policy scan subtracts from its target (zswap's
    /// `zswap_folio_swapin` feeding `nr_disk_swapins`).
    public func reportDiskSwapIns(_ count: Int) {
        guard count > 0 else { return }
        counters.pendingDiskSwapIns.wrappingAdd(count, ordering: .relaxed)
        counters.diskSwapInsReported.increment(by: count)
    }

    /// `zswap_shrinker_count`: the excess less the swap-ins not yet consumed
    /// (consuming them), scaled by pageframes per stored page.
    func zswapWritebackTarget(excess: Int) -> Int {
        var freeable = excess
        var pending = counters.pendingDiskSwapIns.load(ordering: .relaxed)
        while true {
            let consumed = min(freeable, pending)
            let (exchanged, original) = counters.pendingDiskSwapIns.compareExchange(
                expected: pending, desired: pending - consumed, ordering: .relaxed)
            if exchanged {
                freeable -= consumed
                break
            }
            pending = original
        }
        let zpages = counters.persZPages.value
        guard freeable > 0, zpages > 0 else { return 0 }
        // Round up, so a small excess still writes back a frame.
        return (freeable * store.persistent.framesInUse + zpages - 1) / zpages
    }

    /// `shrink_memcg_cb` over `walking` frames: rotates referenced frames
    /// (second chance) and writes back unreferenced ones. Returns the frames
    /// written back, the pages submitted and the frames rotated.
    func writebackWithSecondChance(walking: Int) -> (frames: Int, pages: Int, rotated: Int) {
        let plug = WritebackPlug()
        defer { plug.submit() }
        var budget = walking
        var frames = 0
        var pages = 0
        var rotated = 0
        while budget > 0 {
            // The referenced bit: zbud's per frame, else the per-entry LRU's.
            let spared =
                store.persistent.frameLRU?.rotateReferencedLRU(limit: budget)
                ?? store.persistentLRU?.rotateReferencedOldest(limit: budget) ?? 0
            rotated += spared
            budget -= spared
            guard budget > 0, case .submitted(let submitted) = writebackPageframe(plug: plug)
            else { break }
            frames += 1
            pages += submitted
            budget -= 1
        }
        counters.shrinkerSecondChances.increment(by: rotated)
        return (frames, pages, rotated)
    }

    /// zswap's `shrink_worker`, run by the scan when the pool was full since
    /// the last one: writes back (with second chance) until the frames in use
    /// are at the accept threshold of the pool's limit.
    ///
    /// Writing back a zsmalloc object frees its slot, not a frame: a frame
    /// comes back only when every object in it is gone. So after a batch that
    /// left the frames in use where they were, the worker compacts the
    /// persistent class before writing back more (the kernel leaves that to
    /// zsmalloc's own shrinker, later; without it the worker writes back
    /// far more pages than the limit asks, with zspages of up to 16 frames).
    func writebackWhilePoolWasFull() -> (pages: Int, rotated: Int) {
        let failedNow = counters.persAteEphFailed.value
        let failedBefore = shrinker.persistentPutsFailedSeen.exchange(failedNow, ordering: .relaxed)
        guard configuration.writebackEnabled, failedNow > failedBefore || isPoolLimitReached else {
            return (0, 0)
        }
        let limit = min(configuration.pageframes, poolLimitPageframes)
        let threshold = limit * min(100, max(0, configuration.acceptThresholdPercent)) / 100
        // Frames holding zpages; not those writeback holds for its writes,
        // which come back as the writes complete.
        func stored() -> Int { store.framesInUse }
        var pages = 0
        var rotated = 0
        var failures = 0
        while stored() > threshold, failures < 16 {
            let before = stored()
            let batch = writebackWithSecondChance(walking: min(32, before - threshold))
            pages += batch.pages
            rotated += batch.rotated
            if batch.frames == 0 { failures += 1 }
            if batch.pages > 0, stored() >= before {
                counters.pagesCompacted.increment(by: store.persistent.compact())
            }
        }
        return (pages, rotated)
    }
}
