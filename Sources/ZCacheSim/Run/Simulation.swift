// One simulator run: build the content source, the swap device, ZCache and
// the host; run the workload; read back everything; collect the figures.

import Foundation
import SwapDevice
import ZCache

/// What one run under one shrinker policy and one allocator produced.
public struct SimulationResult: Sendable, Codable {
    public var policy: ShrinkerPolicy
    public var allocator: ZCacheAllocatorKind
    public var compressor: CompressorKind
    public var seconds: Double
    public var host: HostCounters
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
    public var verifiedPages: Int { host.verifiedPages }
    public var lostPages: Int { host.lostPages }

    enum CodingKeys: String, CodingKey {
        case policy, allocator, compressor, seconds, host, statistics
        case swapDevice = "swap_device", shrinkerEvicted = "shrinker_evicted"
        case shrinkerWrittenBack = "shrinker_written_back"
        case forcedPagesMax = "forced_pages_max"
        case frameAccountingHolds = "frame_accounting_holds"
        case swapSlotsInUse = "swap_slots_in_use", swapSlotBadFrees = "swap_slot_bad_frees"
        case verifiedPages = "verified_pages", lostPages = "lost_pages"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policy = try c.decode(ShrinkerPolicy.self, forKey: .policy)
        allocator = try c.decodeIfPresent(ZCacheAllocatorKind.self, forKey: .allocator) ?? .zbud
        compressor = try c.decode(CompressorKind.self, forKey: .compressor)
        seconds = try c.decode(Double.self, forKey: .seconds)
        host = try c.decode(HostCounters.self, forKey: .host)
        statistics = try c.decode(ZCacheStatistics.self, forKey: .statistics)
        swapDevice = try c.decode(SwapDeviceStats.self, forKey: .swapDevice)
        shrinkerEvicted = try c.decode(Int.self, forKey: .shrinkerEvicted)
        shrinkerWrittenBack = try c.decode(Int.self, forKey: .shrinkerWrittenBack)
        forcedPagesMax = try c.decode(Int.self, forKey: .forcedPagesMax)
        frameAccountingHolds = try c.decode(Bool.self, forKey: .frameAccountingHolds)
        swapSlotsInUse = try c.decode(Int.self, forKey: .swapSlotsInUse)
        swapSlotBadFrees = try c.decode(Int.self, forKey: .swapSlotBadFrees)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(policy, forKey: .policy)
        try c.encode(allocator, forKey: .allocator)
        try c.encode(compressor, forKey: .compressor)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(host, forKey: .host)
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
    }

    init(
        policy: ShrinkerPolicy, allocator: ZCacheAllocatorKind, compressor: CompressorKind,
        seconds: Double, host: HostCounters,
        statistics: ZCacheStatistics, swapDevice: SwapDeviceStats, shrinkerEvicted: Int,
        shrinkerWrittenBack: Int, forcedPagesMax: Int, frameAccountingHolds: Bool,
        swapSlotsInUse: Int, swapSlotBadFrees: Int
    ) {
        self.swapSlotsInUse = swapSlotsInUse
        self.swapSlotBadFrees = swapSlotBadFrees
        self.policy = policy
        self.allocator = allocator
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

    /// Runs the scenario once under `policy` and `allocator`. `progress` sees (done, total).
    public static func run(
        _ options: SimulationOptions, policy: ShrinkerPolicy,
        allocator: ZCacheAllocatorKind = .zbud, content: PageContentSource,
        progress: ((Int, Int) -> Void)? = nil
    ) throws(SimulationError) -> SimulationResult {
        try options.validate()
        let (device, temporaryPath) = try openSwapDevice(
            options, tag: "\(policy.rawValue)-\(allocator.rawValue)")
        defer {
            device.close()
            if let temporaryPath { unlink(temporaryPath) }
        }
        var configuration = ZCacheConfiguration()
        configuration.compressor = options.compressor
        configuration.pageframes = options.effectiveZCacheFrames
        configuration.writebackEnabled = options.writeback
        configuration.maxOutstandingWritebackPages = options.writebackCap
        configuration.shrinkerPolicy = policy
        configuration.allocator = allocator
        configuration.ignoreNonActiveEphemeralPuts = options.nonActiveFilter
        configuration.ignoreNonActivePersistentPuts = options.nonActiveFilter
        let ram = HostRAM(
            totalPages: options.host.ramPages, reservePages: options.host.minWatermark)
        let zcache = ZCache(configuration: configuration, host: ram)
        let paths: ZCacheSwapPaths
        do {
            paths = try ZCacheSwapPaths(zcache: zcache, device: device)
        } catch {
            throw .zcache(error)
        }
        let host = SimulatedHost(
            configuration: options.host, content: content, paths: paths, ram: ram)
        let start = monotonicNanoseconds()
        let counters = host.run(progress: progress)
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        return SimulationResult(
            policy: policy, allocator: allocator, compressor: options.compressor, seconds: seconds,
            host: counters,
            statistics: zcache.statistics, swapDevice: device.stats,
            shrinkerEvicted: paths.shrinkerEvicted, shrinkerWrittenBack: paths.shrinkerWrittenBack,
            forcedPagesMax: ram.forcedPagesMax,
            frameAccountingHolds: zcache.checkFrameAccounting(),
            swapSlotsInUse: device.slots.usedSlots, swapSlotBadFrees: device.slots.badFrees)
    }

    /// Opens `--swap-file` when it exists (as it is), creates it when it does
    /// not, or creates a temporary one (returned path to remove).
    static func openSwapDevice(_ options: SimulationOptions, tag: String) throws(SimulationError)
        -> (SwapDevice, String?)
    {
        if let path = options.swapFile {
            do {
                if FileManager.default.fileExists(atPath: path) {
                    return (try SwapDevice.open(path: path), nil)
                }
                return (try SwapDevice.create(path: path, pages: options.createdSwapFilePages), nil)
            } catch {
                throw .swapDevice(path, error)
            }
        }
        let path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "zcache-sim-\(getpid())-\(tag).swap"
            ).path
        do {
            return (try SwapDevice.create(path: path, pages: options.createdSwapFilePages), path)
        } catch {
            throw .swapDevice(path, error)
        }
    }
}
