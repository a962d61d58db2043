import ZCache

/// Everything a region counts, as one `Sendable`, `Codable` snapshot.
public struct ZCacheRegionStatistics: Sendable, Codable, Equatable {
    /// Pages in the region, and how many may be mapped at once.
    public var pages = 0
    public var residentLimit = 0

    /// Pages mapped now (including zero-page mappings), the most ever mapped,
    /// and the mapped pages whose stored copy (or zero content) is still
    /// exact: they are write-protected and cost nothing to drop again.
    public var residentPages = 0
    public var residentPagesMax = 0
    public var cleanResidentPages = 0
    /// Pages not mapped whose contents live in ZCache, the swap cache or on
    /// the swap device.
    public var storedPages = 0
    /// Pages ever touched (the rest read as zero and take nothing).
    public var touchedPages = 0

    /// Missing-page faults by where the page came from.
    public var zeroFaults = 0
    public var zcacheFaults = 0
    public var swapCacheFaults = 0
    public var deviceFaults = 0
    /// Write-protect faults: a write to a clean page (its stored copy is
    /// dropped) or to a page the clock re-protected.
    public var writeProtectFaults = 0
    /// Fault messages for a page already mapped (another thread's fault on
    /// the same page, or a wait on a page that was dropped): just woken.
    public var spuriousFaults = 0

    /// Pages dropped by the reclaimer, split into those that needed a store
    /// (dirty) and those whose copy was still exact (clean: `madvise` only).
    public var reclaimedPages = 0
    public var dirtyStores = 0
    public var cleanDrops = 0
    /// Reclaims done while a fault waited because the region was full.
    public var directReclaims = 0
    /// Pages the clock passed over because they were written since its last pass.
    public var secondChances = 0
    /// Time spent reclaiming, in total.
    public var reclaimNanoseconds: UInt64 = 0

    /// Failures, each of which keeps data safe: a store the cache and the
    /// device both refused (the page stays mapped, over the limit if need be),
    /// swap-in attempts that failed and were retried, and pages that could not
    /// be read back at all (mapped as zeros; the kernel would SIGBUS).
    public var storeFailures = 0
    public var limitOverruns = 0
    public var swapInRetries = 0
    public var lostPages = 0
    public var lastError: String?

    /// Fault service time (fault message read to the page mapped: the
    /// `UFFDIO_COPY`, or the zero page and its write protection, done), per
    /// source; `other` is the swap cache and the device. The wake that
    /// follows (`UFFDIO_WAKE`) is timed apart, in `wakeAfterFault`: on a busy
    /// machine it is where the handler is preempted by the thread it wakes.
    public var zeroFaultService = LatencySummary()
    public var zcacheFaultService = LatencySummary()
    public var otherFaultService = LatencySummary()
    /// The two parts of a zcache fault's service: `ZCache.swapIn` (lookup and
    /// decompression) and the `UFFDIO_COPY` ioctl (allocate, copy, map, wake).
    public var zcacheFaultLoad = LatencySummary()
    public var zcacheFaultCopy = LatencySummary()
    public var wakeAfterFault = LatencySummary()

    /// The cache's figures (the whole cache: give a region its own cache to
    /// read them as the region's): compressed bytes and pageframes in use.
    public var cacheCompressedBytes = 0
    public var cachePageframes = 0

    public init() {}

    /// Touched pages per page of memory spent on them: mapped pages plus the
    /// cache's pageframes. 1 means no gain; 0 when nothing was touched.
    public var effectiveCompression: Double {
        let spent = residentPages + cachePageframes
        return spent == 0 ? 0 : Double(touchedPages) / Double(spent)
    }

    /// Mapped pages plus the cache's pageframes, as a fraction of the region.
    public var memoryFraction: Double {
        pages == 0 ? 0 : Double(residentPages + cachePageframes) / Double(pages)
    }
}
