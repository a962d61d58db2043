import TMem
import ZBud
import ZCacheSupport

/// A snapshot of every statistic zcache and zbud kept in debugfs
/// (`/sys/kernel/debug/zcache/*`, `/sys/kernel/debug/zbud/*`), under the same
/// names when encoded, plus a few this implementation adds (marked).
///
/// Counters are read one by one without stopping the cache, so a snapshot taken
/// while other threads work is not one instant; taken at rest it is exact.
public struct ZCacheStatistics: Sendable, Codable, Equatable {
    /// The `zcache` directory.
    public struct ZCacheCounters: Sendable, Codable, Equatable {
        /// Pageframes holding ephemeral (cleancache) pages now, and the most ever (`eph_pageframes[_max]`).
        public var ephPageframes = 0, ephPageframesMax = 0
        /// Pageframes holding persistent (frontswap) pages now, and the most ever (`pers_pageframes[_max]`).
        public var persPageframes = 0, persPageframesMax = 0
        /// Compressed ephemeral pages stored now, and the most ever (`eph_zpages[_max]`).
        public var ephZPages = 0, ephZPagesMax = 0
        /// Compressed persistent pages stored now, and the most ever (`pers_zpages[_max]`).
        public var persZPages = 0, persZPagesMax = 0
        /// Compressed bytes of ephemeral pages now, and the most ever (`eph_zbytes[_max]`).
        public var ephZBytes = 0, ephZBytesMax = 0
        /// Compressed bytes of persistent pages now, and the most ever (`pers_zbytes[_max]`).
        public var persZBytes = 0, persZBytesMax = 0
        /// Ephemeral pages evicted, any allocator (`evicted_eph_zpages`).
        public var evictedEphZPages = 0
        /// zbud: whole ephemeral frames evicted. zsmalloc (no frame LRU):
        /// frames `evictEphemeralPageframes` (the shrinker) gave back by
        /// evicting entries and compacting; entries a put evicts are not
        /// counted (`evicted_eph_pageframes`).
        public var evictedEphPageframes = 0
        /// Puts that found the pool empty and succeeded after evicting LRU
        /// ephemeral memory (a zbud frame, or up to 64 zsmalloc entries), or
        /// failed (`eph_ate_tail[_failed]`).
        public var ephAteTail = 0, ephAteTailFailed = 0
        /// Persistent puts that took an evicted ephemeral frame, and those that found none (`pers_ate_eph[_failed]`).
        public var persAteEph = 0, persAteEphFailed = 0
        /// Puts refused for compressing to more than the class allows (`compress_poor`).
        public var compressPoor = 0
        /// Persistent puts refused while the mean compressed size was too high (`mean_compress_poor`).
        public var meanCompressPoor = 0
        /// Ephemeral puts that did not store (`failed_eph_puts`).
        public var failedEphPuts = 0
        /// Persistent puts that did not store (`failed_pers_puts`).
        public var failedPersPuts = 0
        /// Pageframe allocations from the pool that failed (`failed_alloc`).
        public var failedAlloc = 0
        /// Puts turned into flushes while frozen (`put_to_flush`).
        public var putToFlush = 0
        /// Page flushes, and those that found a page (`flush_total`, `flush_found`).
        public var flushTotal = 0, flushFound = 0
        /// Object flushes, and those that found an object (`flobj_total`, `flobj_found`).
        public var flobjTotal = 0, flobjFound = 0
        /// TMem objects now, and the most ever (`obj_count[_max]`).
        public var objCount = 0, objCountMax = 0
        /// Ephemeral puts of never-active pages ignored (`eph_nonactive_puts_ignored`).
        public var ephNonactivePutsIgnored = 0
        /// Persistent puts of never-active pages ignored (`pers_nonactive_puts_ignored`).
        public var persNonactivePutsIgnored = 0
        /// The host's active file list at the last shrinker scan (`last_active_file_pageframes`).
        public var lastActiveFilePageframes = 0
        /// The host's inactive file list at the last shrinker scan (`last_inactive_file_pageframes`).
        public var lastInactiveFilePageframes = 0
        /// The host's active anonymous list at the last shrinker scan (`last_active_anon_pageframes`).
        public var lastActiveAnonPageframes = 0
        /// The host's inactive anonymous list at the last shrinker scan (`last_inactive_anon_pageframes`).
        public var lastInactiveAnonPageframes = 0
        /// Zero-filled pages held (no pageframe) now, and the most ever (`zero_filled_pages[_max]`).
        public var zeroFilledPages = 0, zeroFilledPagesMax = 0
        /// Writeback pages submitted and not yet completed (`outstanding_writeback_pages`).
        public var outstandingWritebackPages = 0
        /// Pages written back to a swap device (`writtenback_pages`).
        public var writtenbackPages = 0
        // Added here (not in the kernel):
        /// Peak of `outstanding_writeback_pages`.
        public var outstandingWritebackPagesMax = 0
        /// Writeback writes the swap device failed (each page kept, then retried).
        public var writebackWriteErrors = 0
        /// Writeback writes resubmitted after an error.
        public var writebackRetries = 0
        /// Writeback attempts refused because the outstanding cap was reached.
        public var writebackCapReached = 0
        /// Writeback found the swap entry already in the swap cache (newer page)
        /// and invalidated the zcache copy instead.
        public var writebackSwapCacheExisted = 0
        /// Writeback found the swap entry freed and dropped the zpage.
        public var writebackDroppedStale = 0
        /// Stored pages that failed to decompress.
        public var decompressErrors = 0
        /// Calls rejected for bad input (wrong page size, unknown type or pool).
        public var badInputErrors = 0
        /// Ephemeral (cleancache) gets and hits; persistent (frontswap) loads and hits.
        public var ephGets = 0, ephGetHits = 0, persGets = 0, persGetHits = 0
        /// Shrinker scans run.
        public var shrinkerScans = 0
        /// Pages stored as one repeated 8-byte word, with no memory (zram's
        /// `same_pages`): zero pages included, so `zero_filled_pages` is the
        /// part of it that is zero.
        public var sameFilledPages = 0, sameFilledPagesMax = 0
        /// Pages above the class's compress_poor bound stored anyway
        /// (`storeIncompressible`, zsmalloc's huge class). Always 0 with zbud.
        public var incompressibleStored = 0
        /// Frames freed by compaction (zsmalloc's `pages_compacted`). Always 0 with zbud.
        public var pagesCompacted = 0
        /// Referenced persistent frames the zswap-policy shrinker rotated
        /// instead of writing back (second chance).
        public var shrinkerSecondChances = 0
        /// Puts refused because the pool reached `maxPoolPercent` of host RAM
        /// (zswap's `pool_limit_hit`).
        public var poolLimitHit = 0
        /// Swap-ins from the device the host reported (zswap's `nr_disk_swapins` events).
        public var diskSwapIns = 0

        enum CodingKeys: String, CodingKey {
            case ephPageframes = "eph_pageframes", ephPageframesMax = "eph_pageframes_max"
            case persPageframes = "pers_pageframes", persPageframesMax = "pers_pageframes_max"
            case ephZPages = "eph_zpages", ephZPagesMax = "eph_zpages_max"
            case persZPages = "pers_zpages", persZPagesMax = "pers_zpages_max"
            case ephZBytes = "eph_zbytes", ephZBytesMax = "eph_zbytes_max"
            case persZBytes = "pers_zbytes", persZBytesMax = "pers_zbytes_max"
            case evictedEphZPages = "evicted_eph_zpages"
            case evictedEphPageframes = "evicted_eph_pageframes"
            case ephAteTail = "eph_ate_tail", ephAteTailFailed = "eph_ate_tail_failed"
            case persAteEph = "pers_ate_eph", persAteEphFailed = "pers_ate_eph_failed"
            case compressPoor = "compress_poor"
            case meanCompressPoor = "mean_compress_poor"
            case failedEphPuts = "failed_eph_puts"
            case failedPersPuts = "failed_pers_puts"
            case failedAlloc = "failed_alloc"
            case putToFlush = "put_to_flush"
            case flushTotal = "flush_total", flushFound = "flush_found"
            case flobjTotal = "flobj_total", flobjFound = "flobj_found"
            case objCount = "obj_count", objCountMax = "obj_count_max"
            case ephNonactivePutsIgnored = "eph_nonactive_puts_ignored"
            case persNonactivePutsIgnored = "pers_nonactive_puts_ignored"
            case lastActiveFilePageframes = "last_active_file_pageframes"
            case lastInactiveFilePageframes = "last_inactive_file_pageframes"
            case lastActiveAnonPageframes = "last_active_anon_pageframes"
            case lastInactiveAnonPageframes = "last_inactive_anon_pageframes"
            case zeroFilledPages = "zero_filled_pages", zeroFilledPagesMax = "zero_filled_pages_max"
            case outstandingWritebackPages = "outstanding_writeback_pages"
            case writtenbackPages = "writtenback_pages"
            case outstandingWritebackPagesMax = "outstanding_writeback_pages_max"
            case writebackWriteErrors = "writeback_write_errors"
            case writebackRetries = "writeback_retries"
            case writebackCapReached = "writeback_cap_reached"
            case writebackSwapCacheExisted = "writeback_swapcache_existed"
            case writebackDroppedStale = "writeback_dropped_stale"
            case decompressErrors = "decompress_errors"
            case badInputErrors = "bad_input_errors"
            case ephGets = "eph_gets", ephGetHits = "eph_get_hits"
            case persGets = "pers_gets", persGetHits = "pers_get_hits"
            case shrinkerScans = "shrinker_scans"
            case sameFilledPages = "same_filled_pages", sameFilledPagesMax = "same_filled_pages_max"
            case incompressibleStored = "incompressible_stored"
            case pagesCompacted = "pages_compacted"
            case shrinkerSecondChances = "shrinker_second_chances"
            case poolLimitHit = "pool_limit_hit"
            case diskSwapIns = "disk_swapins"
        }
    }

    /// The `zbud` directory (zbud only: all 0 with another allocator).
    public struct ZBudCounters: Sendable, Codable, Equatable {
        /// Ephemeral compressed bytes now; bytes and pages ever stored (`eph_zbytes`, `eph_cumul_zbytes`, `eph_cumul_zpages`).
        public var ephZBytes = 0, ephCumulZBytes = 0, ephCumulZPages = 0
        /// Ephemeral frames evicted; pages and frames now (`eph_evicted_pageframes`, `eph_zpages`, `eph_pageframes`).
        public var ephEvictedPageframes = 0, ephZPages = 0, ephPageframes = 0
        /// Ephemeral frames holding two pages, and one (`eph_buddied_count`, `eph_unbuddied_count`).
        public var ephBuddiedCount = 0, ephUnbuddiedCount = 0
        /// Persistent compressed bytes now; bytes and pages ever stored (`pers_zbytes`, `pers_cumul_zbytes`, `pers_cumul_zpages`).
        public var persZBytes = 0, persCumulZBytes = 0, persCumulZPages = 0
        /// Persistent frames made zombies for writeback; pages and frames now (`pers_evicted_pageframes`, `pers_zpages`, `pers_pageframes`).
        public var persEvictedPageframes = 0, persZPages = 0, persPageframes = 0
        /// Persistent frames holding two pages, and one (`pers_buddied_count`, `pers_unbuddied_count`).
        public var persBuddiedCount = 0, persUnbuddiedCount = 0
        /// Persistent frames being written back (`pers_zombie_count`).
        public var persZombieCount = 0

        enum CodingKeys: String, CodingKey {
            case ephZBytes = "eph_zbytes", ephCumulZBytes = "eph_cumul_zbytes"
            case ephCumulZPages = "eph_cumul_zpages"
            case ephEvictedPageframes = "eph_evicted_pageframes", ephZPages = "eph_zpages"
            case ephPageframes = "eph_pageframes"
            case ephBuddiedCount = "eph_buddied_count", ephUnbuddiedCount = "eph_unbuddied_count"
            case persZBytes = "pers_zbytes", persCumulZBytes = "pers_cumul_zbytes"
            case persCumulZPages = "pers_cumul_zpages"
            case persEvictedPageframes = "pers_evicted_pageframes", persZPages = "pers_zpages"
            case persPageframes = "pers_pageframes"
            case persBuddiedCount = "pers_buddied_count"
            case persUnbuddiedCount = "pers_unbuddied_count"
            case persZombieCount = "pers_zombie_count"
        }
    }

    /// The pageframe pool standing in for `alloc_page(ZCACHE_GFP_MASK)` (added here).
    public struct FramePoolCounters: Sendable, Codable, Equatable {
        /// Frames in the pool, in use now, ever allocated, ever freed.
        public var frames = 0, framesInUse = 0, allocatedTotal = 0, freedTotal = 0
        /// Frees of frames that were not allocated (0 unless there is a bug).
        public var invalidFrees = 0
        /// Frames and host pages held by writeback between gathering and completion.
        public var writebackPagesHeld = 0

        enum CodingKeys: String, CodingKey {
            case frames, framesInUse = "frames_in_use", allocatedTotal = "allocated_total"
            case freedTotal = "freed_total", invalidFrees = "invalid_frees"
            case writebackPagesHeld = "writeback_pages_held"
        }
    }

    /// The allocator behind the seam (added here).
    public struct AllocatorCounters: Sendable, Codable, Equatable {
        /// Which allocator.
        public var allocator: ZCacheAllocatorKind = .zbud
        /// Frames both classes hold.
        public var framesInUse = 0
        /// Bytes of the pool's frames resident in memory now, as the kernel
        /// reports them (`mincore`): tracks frames in use plus a small reserve
        /// of recently freed frames.
        public var residentBytes = 0
        /// Bytes of every per-entry structure outside the frames, from real
        /// capacities: TMem's page maps and object tables, the allocators'
        /// per-object and per-frame tables, the per-entry LRUs, the
        /// same-filled word table.
        public var metadataBytes = 0
        /// Its parts: TMem's page maps and object tables; the allocators'
        /// own structures (zbud's frame table, zsmalloc's handle tables and
        /// zspage records); ZCache's (per-entry LRUs, same-filled words).
        public var metadataBytesTMem = 0, metadataBytesAllocators = 0, metadataBytesZCache = 0
        /// `metadataBytes` per stored page, compressed or same-filled (0 when none).
        public var metadataBytesPerPage = 0.0
        /// Live stored bytes (key prefix included) / bytes of the frames in use.
        public var poolUtilization = 0.0
        /// Each class's allocator.
        public var ephemeral = AllocatorStatistics()
        public var persistent = AllocatorStatistics()

        enum CodingKeys: String, CodingKey {
            case allocator, framesInUse = "frames_in_use", residentBytes = "resident_bytes"
            case metadataBytes = "metadata_bytes"
            case metadataBytesPerPage = "metadata_bytes_per_page"
            case metadataBytesTMem = "metadata_bytes_tmem"
            case metadataBytesAllocators = "metadata_bytes_allocators"
            case metadataBytesZCache = "metadata_bytes_zcache"
            case poolUtilization = "pool_utilization", ephemeral, persistent
        }
    }

    /// The `zcache` debugfs directory.
    public var zcache = ZCacheCounters()
    /// The `zbud` debugfs directory (all 0 with another allocator).
    public var zbud = ZBudCounters()
    /// The pageframe pool (added here).
    public var framePool = FramePoolCounters()
    /// The allocator behind the seam (added here).
    public var allocator = AllocatorCounters()
    /// The remote tier, as zcache sees it (added here; all 0 without one).
    public var remote = RemoteTierStatistics()

    enum CodingKeys: String, CodingKey {
        case zcache, zbud, framePool = "frame_pool", allocator, remote
    }

    /// An all-zero snapshot.
    public init() {}
}

extension ZCacheCounters {
    /// Reads every counter into the public value.
    func snapshot(tmem: TMemStats, store: ZPageStore) -> ZCacheStatistics {
        let pool = store.pool
        let ephemeral = (store.ephemeral as? ZBudAllocator)?.zbud.stats ?? ZBudStats()
        let persistent = (store.persistent as? ZBudAllocator)?.zbud.stats ?? ZBudStats()
        var s = ZCacheStatistics()
        s.zcache.ephPageframes = store.ephemeral.framesInUse
        s.zcache.ephPageframesMax = ephPageframes.max
        s.zcache.persPageframes = store.persistent.framesInUse
        s.zcache.persPageframesMax = persPageframes.max
        s.zcache.ephZPages = ephZPages.value
        s.zcache.ephZPagesMax = ephZPages.max
        s.zcache.persZPages = persZPages.value
        s.zcache.persZPagesMax = persZPages.max
        s.zcache.ephZBytes = ephZBytes.value
        s.zcache.ephZBytesMax = ephZBytes.max
        s.zcache.persZBytes = persZBytes.value
        s.zcache.persZBytesMax = persZBytes.max
        s.zcache.evictedEphZPages = evictedEphZPages.value
        s.zcache.evictedEphPageframes = evictedEphPageframes.value
        s.zcache.ephAteTail = ephAteTail.value
        s.zcache.ephAteTailFailed = ephAteTailFailed.value
        s.zcache.persAteEph = persAteEph.value
        s.zcache.persAteEphFailed = persAteEphFailed.value
        s.zcache.compressPoor = compressPoor.value
        s.zcache.meanCompressPoor = meanCompressPoor.value
        s.zcache.failedEphPuts = failedEphPuts.value
        s.zcache.failedPersPuts = failedPersPuts.value
        s.zcache.failedAlloc = failedAlloc.value
        s.zcache.putToFlush = putToFlush.value
        s.zcache.flushTotal = tmem.flushTotal
        s.zcache.flushFound = tmem.flushFound
        s.zcache.flobjTotal = tmem.flobjTotal
        s.zcache.flobjFound = tmem.flobjFound
        s.zcache.objCount = tmem.objCount
        s.zcache.objCountMax = tmem.objCountMax
        s.zcache.ephNonactivePutsIgnored = ephNonactivePutsIgnored.value
        s.zcache.persNonactivePutsIgnored = persNonactivePutsIgnored.value
        s.zcache.lastActiveFilePageframes = lastActiveFilePageframes.load(ordering: .relaxed)
        s.zcache.lastInactiveFilePageframes = lastInactiveFilePageframes.load(ordering: .relaxed)
        s.zcache.lastActiveAnonPageframes = lastActiveAnonPageframes.load(ordering: .relaxed)
        s.zcache.lastInactiveAnonPageframes = lastInactiveAnonPageframes.load(ordering: .relaxed)
        s.zcache.zeroFilledPages = zeroFilledPages.value
        s.zcache.zeroFilledPagesMax = zeroFilledPages.max
        s.zcache.outstandingWritebackPages = outstandingWritebackPages.value
        s.zcache.outstandingWritebackPagesMax = outstandingWritebackPages.max
        s.zcache.writtenbackPages = writtenbackPages.value
        s.zcache.writebackWriteErrors = writebackWriteErrors.value
        s.zcache.writebackRetries = writebackRetries.value
        s.zcache.writebackCapReached = writebackCapReached.value
        s.zcache.writebackSwapCacheExisted = writebackSwapCacheExisted.value
        s.zcache.writebackDroppedStale = writebackDroppedStale.value
        s.zcache.decompressErrors = decompressErrors.value
        s.zcache.badInputErrors = badInputErrors.value
        s.zcache.ephGets = ephGets.value
        s.zcache.ephGetHits = ephGetHits.value
        s.zcache.persGets = persGets.value
        s.zcache.persGetHits = persGetHits.value
        s.zcache.shrinkerScans = shrinkerScans.value
        s.zcache.sameFilledPages = sameFilledPages.value
        s.zcache.sameFilledPagesMax = sameFilledPages.max
        s.zcache.incompressibleStored = incompressibleStored.value
        s.zcache.pagesCompacted = pagesCompacted.value
        s.zcache.shrinkerSecondChances = shrinkerSecondChances.value
        s.zcache.poolLimitHit = poolLimitHit.value
        s.zcache.diskSwapIns = diskSwapInsReported.value

        s.zbud.ephZBytes = ephemeral.zbytes
        s.zbud.ephCumulZBytes = ephemeral.cumulZbytes
        s.zbud.ephCumulZPages = ephemeral.cumulZpages
        s.zbud.ephEvictedPageframes = ephemeral.evictedPageframes
        s.zbud.ephZPages = ephemeral.zpages
        s.zbud.ephPageframes = ephemeral.pageframes
        s.zbud.ephBuddiedCount = ephemeral.buddiedCount
        s.zbud.ephUnbuddiedCount = ephemeral.unbuddiedCount
        s.zbud.persZBytes = persistent.zbytes
        s.zbud.persCumulZBytes = persistent.cumulZbytes
        s.zbud.persCumulZPages = persistent.cumulZpages
        s.zbud.persEvictedPageframes = persistent.evictedPageframes
        s.zbud.persZPages = persistent.zpages
        s.zbud.persPageframes = persistent.pageframes
        s.zbud.persBuddiedCount = persistent.buddiedCount
        s.zbud.persUnbuddiedCount = persistent.unbuddiedCount
        s.zbud.persZombieCount = persistent.zombieCount

        s.framePool.frames = pool.frameCount
        s.framePool.framesInUse = pool.framesInUse
        s.framePool.allocatedTotal = pool.allocatedTotal
        s.framePool.freedTotal = pool.freedTotal
        s.framePool.invalidFrees = pool.invalidFrees
        s.framePool.writebackPagesHeld = writebackFramesHeld.value

        s.allocator.allocator = store.kind
        s.allocator.ephemeral = store.ephemeral.allocatorStatistics
        s.allocator.persistent = store.persistent.allocatorStatistics
        s.allocator.framesInUse =
            s.allocator.ephemeral.framesInUse + s.allocator.persistent.framesInUse
        s.allocator.residentBytes = pool.residentBytes
        let frameBytes = s.allocator.framesInUse * pageSize
        s.allocator.poolUtilization =
            frameBytes == 0
            ? 0
            : Double(s.allocator.ephemeral.objectBytes + s.allocator.persistent.objectBytes)
                / Double(frameBytes)
        return s
    }
}
