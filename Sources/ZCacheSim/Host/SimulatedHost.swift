// The simulated host: processes, RAM, LRU lists, reclaim and faults.
// (The picture of the whole simulator is at the top of ZCacheSim.swift.)

import ZCacheSupport

/// The shape of a simulated machine and its workload. Keys are snake_case in JSON.
public struct HostConfiguration: Sendable, Codable, Equatable {
    /// RAM in pages (the cache's pageframes come out of it too).
    public var ramPages = 8192
    /// Processes, each with `anonPagesPerProcess` anonymous pages.
    public var processes = 4
    public var anonPagesPerProcess = 5120
    /// Files, each of `pagesPerFile` pages, read through the page cache.
    public var files = 4
    public var pagesPerFile = 1024
    /// Accesses to simulate.
    public var steps = 300_000
    /// How anonymous pages are chosen.
    public var pattern = AccessPattern.phased
    /// Fraction of anonymous accesses that write (and so bump the page's version).
    public var writeRatio = 0.3
    /// Fraction of accesses that go to files.
    public var fileShare = 0.25
    /// Accesses per phase of the `phased` pattern.
    public var phaseLength = 30_000
    /// The kernel's vm.swappiness (0...200): how hard anon is reclaimed vs file.
    public var swappiness = 60
    /// Seed of the access pattern.
    public var seed: UInt64 = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case ramPages = "ram_pages", processes, anonPagesPerProcess = "anon_pages_per_process"
        case files, pagesPerFile = "pages_per_file", steps, pattern, writeRatio = "write_ratio"
        case fileShare = "file_share", phaseLength = "phase_length", swappiness, seed
    }

    // The watermarks are fractions of RAM with floors (8, 16 and 4 pages);
    // the floors shrink with RAM below 128 pages, so that the small RAMs of
    // small traces (a fraction of a few hundred pages) still leave room.

    /// Reclaim starts below this many free pages (the zone's low watermark)...
    public var lowWatermark: Int { max(1, min(8, ramPages / 16), ramPages / 64) }
    /// ...and stops at this many (the high watermark).
    public var highWatermark: Int { max(2, min(16, ramPages / 8), ramPages / 32) }
    /// Forced allocations leave this many pages free (the min watermark).
    public var minWatermark: Int { max(1, min(4, ramPages / 32), ramPages / 128) }

    /// Anonymous and file pages over all processes and files.
    public var anonPages: Int { processes * anonPagesPerProcess }
    public var filePages: Int { files * pagesPerFile }
}

/// What the host did and saw. Keys are snake_case in JSON.
public struct HostCounters: Sendable, Codable, Equatable {
    public var steps = 0
    public var anonAccesses = 0
    public var fileAccesses = 0
    public var writes = 0
    public var firstTouches = 0
    public var swapIns = 0
    public var swapInsFromSwapCache = 0
    public var swapInsFromCompressedCache = 0
    public var swapInsFromDevice = 0
    /// Swap-ins the remote tier served (0 unless writeback goes there).
    public var swapInsFromRemote = 0
    public var swapOuts = 0
    public var swapOutFailures = 0
    public var fileFaults = 0
    public var cleancacheHits = 0
    public var fileReads = 0
    public var reclaimedFilePages = 0
    public var reclaimPasses = 0
    public var reclaimStalls = 0
    public var promotions = 0
    public var demotions = 0
    public var verifiedPages = 0
    public var lostPages = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, anonAccesses = "anon_accesses", fileAccesses = "file_accesses", writes
        case firstTouches = "first_touches", swapIns = "swap_ins"
        case swapInsFromSwapCache = "swap_ins_from_swap_cache"
        case swapInsFromCompressedCache = "swap_ins_from_zcache"
        case swapInsFromDevice = "swap_ins_from_device"
        case swapInsFromRemote = "swap_ins_from_remote"
        case swapOuts = "swap_outs", swapOutFailures = "swap_out_failures"
        case fileFaults = "file_faults", cleancacheHits = "cleancache_hits"
        case fileReads = "file_reads", reclaimedFilePages = "reclaimed_file_pages"
        case reclaimPasses = "reclaim_passes", reclaimStalls = "reclaim_stalls"
        case promotions, demotions
        case verifiedPages = "verified_pages", lostPages = "lost_pages"
    }
}

/// A host that runs processes over a RAM budget and reclaims like the kernel's
/// mm, driving `Paths` (ZCache in real runs) on reclaim and on faults.
///
/// Not thread-safe: one thread runs the host. Only `ram` is shared.
public final class SimulatedHost<Paths: SwapPaths> {
    public let configuration: HostConfiguration
    public let content: PageContentSource
    public let paths: Paths
    public let ram: HostRAM
    public internal(set) var counters = HostCounters()
    /// The counters when the workload ended, before `finish()` read every
    /// swapped page back for verification (which a real program's exit does
    /// not do): what the cost model prices.
    public internal(set) var workloadCounters = HostCounters()

    var lru: LRULists
    /// Per anon page: version (0 = never touched) and swap entry when swapped.
    var version: [UInt32]
    var swapEntry: [Paths.Entry?]
    /// Per page: the referenced bit (PTE young for anon, PG_referenced for file)
    /// and "was on the active list since it became resident" (zcache's filter).
    var referenced: [Bool]
    var wasActive: [Bool]
    var rng: SimRNG
    let anonZipf: ZipfTable
    let fileZipf: ZipfTable
    /// Per process: the sequential file scan in progress (next page id, pages left).
    var scanNext: [Int]
    var scanLeft: [Int]
    /// A real trace driving the accesses instead of the synthetic pattern.
    let trace: TraceReplay?
    /// One page of scratch for contents, one for verification.
    let buffer: UnsafeMutableRawBufferPointer
    let scratch: UnsafeMutableRawBufferPointer

    /// Owners of file contents are numbered above every process.
    static var fileOwnerBase: UInt32 { 0x8000_0000 }

    public convenience init(
        configuration: HostConfiguration, content: PageContentSource, paths: Paths, ram: HostRAM
    ) {
        self.init(
            configuration: configuration, content: content, paths: paths, ram: ram, trace: nil)
    }

    /// A host whose accesses come from `trace` (`configuration` sized for it:
    /// see `SimulationOptions.sized(for:)`), or from the synthetic pattern.
    init(
        configuration: HostConfiguration, content: PageContentSource, paths: Paths, ram: HostRAM,
        trace: TraceReplay?
    ) {
        self.trace = trace
        self.configuration = configuration
        self.content = content
        self.paths = paths
        self.ram = ram
        let anon = configuration.anonPages
        let total = anon + configuration.filePages
        lru = LRULists(capacity: total)
        version = .init(repeating: 0, count: anon)
        swapEntry = .init(repeating: nil, count: anon)
        referenced = .init(repeating: false, count: total)
        wasActive = .init(repeating: false, count: total)
        rng = SimRNG(seed: configuration.seed)
        // A trace chooses its own pages: no tables to sample.
        anonZipf = ZipfTable(
            count: trace == nil ? configuration.anonPagesPerProcess : 0, exponent: 0.9)
        fileZipf = ZipfTable(
            count: trace == nil ? max(1, configuration.filePages) : 0, exponent: 0.9)
        scanNext = .init(repeating: 0, count: configuration.processes)
        scanLeft = .init(repeating: 0, count: configuration.processes)
        buffer = .allocate(byteCount: pageSize, alignment: 64)
        scratch = .allocate(byteCount: pageSize, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        scratch.deallocate()
    }

    /// The current LRU counts.
    public var lruCounts: LRUCounts {
        LRUCounts(
            activeFile: lru.count(.activeFile), inactiveFile: lru.count(.inactiveFile),
            activeAnon: lru.count(.activeAnon), inactiveAnon: lru.count(.inactiveAnon))
    }

    /// Runs every configured step, then `finish()`. `progress` sees (done, total).
    public func run(progress: ((Int, Int) -> Void)? = nil) -> HostCounters {
        let total = configuration.steps
        let tick = max(1, total / 200)
        for s in 0..<total {
            step()
            if let progress, s % tick == 0 { progress(s, total) }
        }
        progress?(total, total)
        workloadCounters = counters
        finish()
        return counters
    }

    /// One access by one process: the trace's next reference, or a synthetic one.
    public func step() {
        if let trace {
            guard let (page, isWrite) = trace.next() else { return }
            counters.steps += 1
            switch trace.workload.summary.format {
            case .address:
                counters.anonAccesses += 1
                touchAnon(page)
                if isWrite { write(page) }
            case .lirs:
                counters.fileAccesses += 1
                touchFile(configuration.anonPages + page)
            }
            return
        }
        counters.steps += 1
        let process = rng.below(configuration.processes)
        if configuration.filePages > 0, rng.unit() < configuration.fileShare {
            accessFile(process: process)
        } else {
            accessAnon(process: process)
        }
    }

    /// The end of the run: every process reads back every swapped page (each
    /// is verified, and its entry consumed); waits for pending I/O.
    public func finish() {
        for g in 0..<configuration.anonPages {
            guard let entry = swapEntry[g] else { continue }
            readBack(page: g, entry: entry)
            swapEntry[g] = nil
        }
        paths.quiesce()
    }

    // MARK: Page identity

    func key(anon g: Int) -> PageKey {
        let per = configuration.anonPagesPerProcess
        return PageKey(owner: UInt32(g / per), page: UInt32(g % per), version: version[g])
    }

    func fileIndex(_ g: Int) -> (file: UInt32, index: UInt32) {
        let f = g - configuration.anonPages
        return (UInt32(f / configuration.pagesPerFile), UInt32(f % configuration.pagesPerFile))
    }

    func key(file g: Int) -> PageKey {
        let (file, index) = fileIndex(g)
        return PageKey(owner: Self.fileOwnerBase | file, page: index, version: 0)
    }

    func isResident(_ g: Int) -> Bool { lru.list(of: g) != nil }
}
