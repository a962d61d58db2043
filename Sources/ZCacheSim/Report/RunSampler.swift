// Time series of a run, for the HTML report.
//
//   SimulatedHost.run --progress tick (every 1/200 of the run)--> RunSampler.sample
//                                                                     |
//   host LRU counts, HostRAM, zcache.statistics, host counters  -> RunSample (one row)
//
// Sampling rides on the host's existing progress tick, so a run without a
// report pays nothing and a run with one pays ~200 statistics snapshots.

import ZCache

/// The figures of one moment of a run.
public struct RunSample: Sendable, Codable, Equatable {
    /// Accesses simulated so far (the x axis).
    public var step = 0
    /// RAM by kind, in pages: resident anonymous and file pages, zcache's
    /// pageframes, pages writeback took from the host, and free pages.
    public var ramAnon = 0, ramFile = 0, ramZCache = 0, ramWriteback = 0, ramFree = 0
    /// zcache's pageframes by pool kind.
    public var ephPageframes = 0, persPageframes = 0
    /// Compressed bytes stored, by pool kind.
    public var ephZBytes = 0, persZBytes = 0
    /// Writeback pages submitted and not yet completed.
    public var outstandingWriteback = 0
    /// Swap-ins so far, by where the page was found.
    public var swapInsZCache = 0, swapInsSwapCache = 0, swapInsDevice = 0
    /// Shrinker scans so far, and pages written back so far.
    public var shrinkerScans = 0, writtenbackPages = 0

    enum CodingKeys: String, CodingKey {
        case step, ramAnon = "ram_anon", ramFile = "ram_file", ramZCache = "ram_zcache"
        case ramWriteback = "ram_writeback", ramFree = "ram_free"
        case ephPageframes = "eph_pageframes", persPageframes = "pers_pageframes"
        case ephZBytes = "eph_zbytes", persZBytes = "pers_zbytes"
        case outstandingWriteback = "outstanding_writeback_pages"
        case swapInsZCache = "swap_ins_from_zcache", swapInsSwapCache = "swap_ins_from_swap_cache"
        case swapInsDevice = "swap_ins_from_device"
        case shrinkerScans = "shrinker_scans", writtenbackPages = "writtenback_pages"
    }

    /// An all-zero sample.
    public init() {}
}

/// Collects `RunSample`s during one run. Used from the host's thread only.
public final class RunSampler {
    /// The samples taken, in step order.
    public private(set) var samples: [RunSample] = []

    /// An empty sampler.
    public init() {}

    /// Records the state of the run after `step` accesses.
    func sample(
        step: Int, host: SimulatedHost<ZCacheSwapPaths>, zcache: ZCache, ram: HostRAM
    ) {
        let statistics = zcache.statistics
        let lru = host.lruCounts
        var s = RunSample()
        s.step = step
        s.ramAnon = lru.activeAnon + lru.inactiveAnon
        s.ramFile = lru.activeFile + lru.inactiveFile
        s.ramZCache = ram.cacheFrames.load(ordering: .relaxed)
        s.ramWriteback = ram.forcedPagesInUse
        s.ramFree = max(0, ram.freePages)
        s.ephPageframes = statistics.zcache.ephPageframes
        s.persPageframes = statistics.zcache.persPageframes
        s.ephZBytes = statistics.zcache.ephZBytes
        s.persZBytes = statistics.zcache.persZBytes
        s.outstandingWriteback = statistics.zcache.outstandingWritebackPages
        s.swapInsZCache = host.counters.swapInsFromCompressedCache
        s.swapInsSwapCache = host.counters.swapInsFromSwapCache
        s.swapInsDevice = host.counters.swapInsFromDevice
        s.shrinkerScans = statistics.zcache.shrinkerScans
        s.writtenbackPages = statistics.zcache.writtenbackPages
        if samples.last?.step == step { samples.removeLast() }
        samples.append(s)
    }
}
