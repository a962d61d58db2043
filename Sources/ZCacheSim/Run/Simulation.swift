// One simulator run: build the content source, the swap device, ZCache and
// the host; run the workload; read back everything; collect the figures.

import Foundation
import Logging
import SwapDevice
import ZCache

/// What one run under one shrinker policy produced.
public struct SimulationResult: Sendable, Codable {
    /// The shrinker policy; nil for the baseline with zcache off (plain swap).
    public var policy: ShrinkerPolicy?
    /// The allocator zcache ran with.
    public var allocator = ZCacheConfiguration().allocator
    public var compressor: CompressorKind
    public var seconds: Double
    public var host: HostCounters
    /// The host's counters when the workload ended, before the final
    /// read-back that verifies every swapped page.
    public var workload: HostCounters
    public var statistics: ZCacheStatistics
    public var swapDevice: SwapDeviceStats
    public var shrinkerEvicted: Int
    public var shrinkerWrittenBack: Int
    public var forcedPagesMax: Int
    public var frameAccountingHolds: Bool
    /// Swap slots still in use after the final read-back (0: nothing leaked),
    /// and frees of slots that were not in use (0: nothing freed twice).
    public var swapSlotsInUse: Int
    public var swapSlotBadFrees: Int
    /// The step the run stopped at because most swap-outs failed (see
    /// `Simulation.runSteps`); nil when it ran every step.
    public var stoppedAtStep: Int?
    public var verifiedPages: Int { host.verifiedPages }
    public var lostPages: Int { host.lostPages }
    /// Most swap-outs failed for want of a slot: the swap device was too small
    /// for the run to say much about zcache.
    public var swapDeviceWasFull: Bool {
        stoppedAtStep != nil || host.swapOutFailures > host.swapOuts
    }
    /// The work the cost model priced, and its prices.
    public var work: SimulatedWork
    public var costModel: CostModel
    /// The trace replayed, if any, and the RAM the run had.
    public var trace: TraceSummary?
    public var ramPages: Int

    /// The column name: the policy (with the allocator when it is not the
    /// default), or "zcache-off".
    public var name: String {
        guard let policy else { return Self.zcacheOffName }
        return allocator == ZCacheConfiguration().allocator
            ? policy.rawValue : "\(policy.rawValue)/\(allocator.rawValue)"
    }
    public static let zcacheOffName = "zcache-off"

    enum CodingKeys: String, CodingKey {
        case policy, allocator, compressor, seconds, host, statistics
        case swapDevice = "swap_device", shrinkerEvicted = "shrinker_evicted"
        case shrinkerWrittenBack = "shrinker_written_back"
        case forcedPagesMax = "forced_pages_max"
        case frameAccountingHolds = "frame_accounting_holds"
        case swapSlotsInUse = "swap_slots_in_use", swapSlotBadFrees = "swap_slot_bad_frees"
        case verifiedPages = "verified_pages", lostPages = "lost_pages"
        case stoppedAtStep = "stopped_at_step"
        case work, costModel = "cost_model", trace, ramPages = "ram_pages"
        case workload = "host_at_workload_end"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policy = try c.decodeIfPresent(ShrinkerPolicy.self, forKey: .policy)
        allocator = try c.decodeIfPresent(ZCacheAllocatorKind.self, forKey: .allocator) ?? .zbud
        compressor = try c.decode(CompressorKind.self, forKey: .compressor)
        seconds = try c.decode(Double.self, forKey: .seconds)
        host = try c.decode(HostCounters.self, forKey: .host)
        workload = try c.decode(HostCounters.self, forKey: .workload)
        statistics = try c.decode(ZCacheStatistics.self, forKey: .statistics)
        swapDevice = try c.decode(SwapDeviceStats.self, forKey: .swapDevice)
        shrinkerEvicted = try c.decode(Int.self, forKey: .shrinkerEvicted)
        shrinkerWrittenBack = try c.decode(Int.self, forKey: .shrinkerWrittenBack)
        forcedPagesMax = try c.decode(Int.self, forKey: .forcedPagesMax)
        frameAccountingHolds = try c.decode(Bool.self, forKey: .frameAccountingHolds)
        swapSlotsInUse = try c.decode(Int.self, forKey: .swapSlotsInUse)
        swapSlotBadFrees = try c.decode(Int.self, forKey: .swapSlotBadFrees)
        stoppedAtStep = try c.decodeIfPresent(Int.self, forKey: .stoppedAtStep)
        work = try c.decode(SimulatedWork.self, forKey: .work)
        costModel = try c.decode(CostModel.self, forKey: .costModel)
        trace = try c.decodeIfPresent(TraceSummary.self, forKey: .trace)
        ramPages = try c.decode(Int.self, forKey: .ramPages)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(policy, forKey: .policy)
        try c.encode(allocator, forKey: .allocator)
        try c.encode(compressor, forKey: .compressor)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(host, forKey: .host)
        try c.encode(workload, forKey: .workload)
        try c.encode(statistics, forKey: .statistics)
        try c.encode(swapDevice, forKey: .swapDevice)
        try c.encode(shrinkerEvicted, forKey: .shrinkerEvicted)
        try c.encode(shrinkerWrittenBack, forKey: .shrinkerWrittenBack)
        try c.encode(forcedPagesMax, forKey: .forcedPagesMax)
        try c.encode(frameAccountingHolds, forKey: .frameAccountingHolds)
        try c.encode(swapSlotsInUse, forKey: .swapSlotsInUse)
        try c.encode(swapSlotBadFrees, forKey: .swapSlotBadFrees)
        try c.encode(verifiedPages, forKey: .verifiedPages)
        try c.encode(lostPages, forKey: .lostPages)
        try c.encodeIfPresent(stoppedAtStep, forKey: .stoppedAtStep)
        try c.encode(work, forKey: .work)
        try c.encode(costModel, forKey: .costModel)
        try c.encodeIfPresent(trace, forKey: .trace)
        try c.encode(ramPages, forKey: .ramPages)
    }

    init(
        policy: ShrinkerPolicy?, compressor: CompressorKind, seconds: Double, host: HostCounters,
        workload: HostCounters, statistics: ZCacheStatistics, swapDevice: SwapDeviceStats,
        shrinkerEvicted: Int, shrinkerWrittenBack: Int, forcedPagesMax: Int,
        frameAccountingHolds: Bool, swapSlotsInUse: Int, swapSlotBadFrees: Int,
        stoppedAtStep: Int?, costModel: CostModel, trace: TraceSummary?, ramPages: Int
    ) {
        self.stoppedAtStep = stoppedAtStep
        self.costModel = costModel
        self.trace = trace
        self.ramPages = ramPages
        self.workload = workload
        let z = statistics.zcache
        // The workload's reads, not the final read-back's: one device read
        // per swap-in from the device (no readahead) and per file read.
        var work = SimulatedWork(
            compressions: statistics.allocator.ephemeral.objectsStoredTotal
                + statistics.allocator.persistent.objectsStoredTotal
                + z.failedEphPuts + z.failedPersPuts,
            decompressions: workload.swapInsFromCompressedCache + workload.cleancacheHits
                + z.writtenbackPages,
            deviceReads: workload.swapInsFromDevice + workload.fileReads,
            deviceWrites: swapDevice.pagesWritten, seconds: 0)
        work.seconds = costModel.time(of: work)
        self.work = work
        self.swapSlotsInUse = swapSlotsInUse
        self.swapSlotBadFrees = swapSlotBadFrees
        self.policy = policy
        self.compressor = compressor
        self.seconds = seconds
        self.host = host
        self.statistics = statistics
        self.swapDevice = swapDevice
        self.shrinkerEvicted = shrinkerEvicted
        self.shrinkerWrittenBack = shrinkerWrittenBack
        self.forcedPagesMax = forcedPagesMax
        self.frameAccountingHolds = frameAccountingHolds
    }
}

/// Runs simulator scenarios.
public enum Simulation {
    /// Loads the content source the options ask for.
    public static func contentSource(_ options: SimulationOptions) throws(SimulationError)
        -> PageContentSource
    {
        guard !options.corpus.isEmpty else { return .generator(seed: options.contentSeed) }
        let bytes: [UInt8]
        do {
            bytes = try BenchmarkPages.load(corpus: options.corpus)
        } catch {
            throw .corpus(error)
        }
        do {
            return try .corpus(bytes, seed: options.contentSeed)
        } catch {
            throw .invalid("\(error)")
        }
    }

    /// Scans the trace the options name, if any (once per command: every
    /// run over it shares the result).
    public static func loadTrace(_ options: SimulationOptions) throws(SimulationError)
        -> TraceWorkload?
    {
        guard let path = options.trace else { return nil }
        do {
            return try TraceWorkload(path: path, format: options.traceFormat)
        } catch {
            throw .trace(error)
        }
    }

    /// The runs the options ask for: each policy, then zcache off if asked.
    public static func runs(_ options: SimulationOptions) -> [ShrinkerPolicy?] {
        options.policies.map { $0 } + (options.includeZCacheOff ? [nil] : [])
    }

    /// Runs the scenario once under `policy` (nil: with zcache off, plain
    /// swap), replaying `trace` when given. The codec costs are measured
    /// unless `costs` gives them (pass the same to every run to compare).
    /// `started` runs once everything is set up (the swap file is open and
    /// claimed) and before the first step; `progress` sees (done, total);
    /// `sampler`, if given, records the run's time series at each progress tick.
    public static func run(
        _ options: SimulationOptions, policy: ShrinkerPolicy?,
        allocator: ZCacheAllocatorKind = ZCacheConfiguration().allocator,
        content: PageContentSource,
        trace: TraceWorkload? = nil, costs: CostModel? = nil,
        started: (() -> Void)? = nil, progress: ((Int, Int) -> Void)? = nil,
        sampler: RunSampler? = nil
    ) throws(SimulationError) -> SimulationResult {
        let options = options.sized(for: trace?.summary)
        try options.validate()
        let costs =
            costs
            ?? CostModel.measure(
                compressor: options.compressor, content: content,
                deviceLatencyMicros: options.deviceLatencyMicros)
        let replay: TraceReplay?
        do {
            replay = try trace?.replay()
        } catch {
            throw .trace(error)
        }
        let device = try openSwapDevice(options)
        defer { device.close() }
        var configuration = ZCacheConfiguration()
        configuration.compressor = options.compressor
        configuration.pageframes = options.effectiveZCacheFrames
        configuration.writebackEnabled = options.writeback
        configuration.maxOutstandingWritebackPages = options.writebackCap
        configuration.shrinkerPolicy = policy ?? .seed
        configuration.allocator = allocator
        configuration.ignoreNonActiveEphemeralPuts = options.nonActiveFilter
        configuration.ignoreNonActivePersistentPuts = options.nonActiveFilter
        configuration.maxPoolPercent = options.maxPoolPercent
        configuration.acceptThresholdPercent = options.acceptThresholdPercent
        let ram = HostRAM(
            totalPages: options.host.ramPages, reservePages: options.host.minWatermark)
        let zcache = ZCache(
            configuration: configuration, host: ram, logger: options.logger, remote: options.remote)
        // zcache off: a frozen cache turns every put into a flush, so every
        // swap-out goes to the device and every file page is dropped, through
        // the same swap paths.
        if policy == nil { zcache.freeze() }
        let paths: ZCacheSwapPaths
        do {
            paths = try ZCacheSwapPaths(zcache: zcache, device: device)
        } catch {
            throw .zcache(error)
        }
        let host = SimulatedHost(
            configuration: options.host, content: content, paths: paths, ram: ram, trace: replay)
        started?()
        let start = monotonicNanoseconds()
        let stoppedAtStep = runSteps(of: host, options) { done, total in
            progress?(done, total)
            sampler?.sample(step: done, host: host, zcache: zcache, ram: ram)
        }
        let workload = host.counters
        host.finish()
        zcache.flushRemoteDeletes()  // pages read back at the end leave no key behind
        // The read-back just freed most frames; a cache at rest gives them back
        // after a second, so give them back now and report the memory it keeps.
        zcache.releaseFreeFrames()
        let counters = host.counters
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        if let error = replay?.error { throw .trace(error) }
        var result = SimulationResult(
            policy: policy, compressor: options.compressor, seconds: seconds, host: counters,
            workload: workload, statistics: zcache.statistics, swapDevice: device.stats,
            shrinkerEvicted: paths.shrinkerEvicted, shrinkerWrittenBack: paths.shrinkerWrittenBack,
            forcedPagesMax: ram.forcedPagesMax,
            frameAccountingHolds: zcache.checkFrameAccounting(),
            swapSlotsInUse: device.slots.usedSlots, swapSlotBadFrees: device.slots.badFrees,
            stoppedAtStep: stoppedAtStep, costModel: costs, trace: trace?.summary,
            ramPages: options.host.ramPages)
        result.allocator = allocator
        return result
    }

    /// Swap-out failures after which a run whose swap-outs mostly fail stops.
    static let swapFullStopFailures = 10_000

    /// Runs the configured steps (as `SimulatedHost.run` does, without its
    /// `finish`). Unless `allowSwapFull`, stops early once most swap-outs have
    /// failed (and at least `swapFullStopFailures` did): the swap device is
    /// too small for the rest to mean anything, and each failure costs a
    /// reclaim pass, so such a run would otherwise take many times as long.
    /// Returns the step it stopped at, or nil if it ran them all.
    static func runSteps<Paths: SwapPaths>(
        of host: SimulatedHost<Paths>, _ options: SimulationOptions,
        progress: ((Int, Int) -> Void)?
    ) -> Int? {
        let total = options.host.steps
        let tick = max(1, total / 200)
        for step in 0..<total {
            host.step()
            if step % tick == 0 {
                progress?(step, total)
                let c = host.counters
                if !options.allowSwapFull, c.swapOutFailures >= swapFullStopFailures,
                    c.swapOutFailures > c.swapOuts
                {
                    return step + 1
                }
            }
        }
        progress?(total, total)
        return nil
    }

    /// Checks before any work that an existing `--swap-file` can be used: it
    /// opens (a valid header, not in use, not active system swap) and has room
    /// for the working set. The run opens it again for itself.
    public static func checkSwapFile(_ options: SimulationOptions) throws(SimulationError) {
        guard let path = options.swapFile, FileManager.default.fileExists(atPath: path) else {
            return
        }
        try openSwapDevice(options).close()
    }

    /// Opens `--swap-file` when it exists (as it is, if it has room for the
    /// working set), creates it when it does not, or creates a temporary one
    /// whose name is gone as soon as it is open (nothing outlives the run).
    static func openSwapDevice(_ options: SimulationOptions) throws(SimulationError) -> SwapDevice {
        var configuration = SwapDevice.Configuration()
        configuration.logger = options.logger
        guard let path = options.swapFile else {
            let directory = FileManager.default.temporaryDirectory.path
            do {
                return try SwapDevice.createTemporary(
                    in: directory, pages: options.createdSwapFilePages,
                    configuration: configuration)
            } catch {
                throw .temporarySwapFile(directory, error)
            }
        }
        let device: SwapDevice
        do {
            if FileManager.default.fileExists(atPath: path) {
                device = try SwapDevice.open(path: path, configuration: configuration)
            } else {
                device = try SwapDevice.create(
                    path: path, pages: options.createdSwapFilePages, configuration: configuration)
            }
        } catch {
            throw .swapDevice(path, error)
        }
        let slots = device.slotCount - 1
        if !options.allowSwapFull, slots < options.minimumSwapSlots {
            device.close()
            throw .swapFileTooSmall(path, slots: slots, needed: options.minimumSwapSlots)
        }
        return device
    }
}
