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
// free enough; that is the second policy. One scan runs at a time. The count a
// scan returns is the correct `eph_pageframes - (active_file + inactive_file)`
// after the scan, not the seed's `eph - active_file + inactive_file`.

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

    public var description: String { rawValue }
}

/// What one shrinker scan did.
public struct ShrinkResult: Sendable, Equatable, Codable {
    /// Ephemeral frames the formula asked to evict.
    public var evictTarget = 0
    /// Persistent frames the formula asked to write back.
    public var writebackTarget = 0
    /// Ephemeral pageframes evicted and freed.
    public var evicted = 0
    /// Persistent pageframes written back (submitted).
    public var writtenBack = 0
    /// `max(0, eph_pageframes - (active_file + inactive_file))` after the scan:
    /// what is still reclaimable (the shrinker's return value, sign bug fixed).
    public var remaining = 0
    /// Frames freed by compacting the allocators after the scan (0 with zbud).
    public var compacted = 0
    /// Another scan was running; this one did nothing.
    public var skippedBusy = false

    public init() {}
}

/// One scan at a time.
final class Shrinker: Sendable {
    let running = Atomic<Bool>(false)
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
        }
        // Objects that can move are packed together again (zsmalloc).
        result.compacted = compact()
        result.remaining = max(0, store.ephemeral.framesInUse - fileLRU)
        return result
    }
}
