// Everything a `zcache-sim run` can be asked to do, and its validation.
// The CLI maps its flags onto this; tests validate it directly.

import Foundation
import Logging
import SwapDevice
import ZCache
import ZCacheSupport

/// The scenario of one simulator run.
public struct SimulationOptions: Sendable {
    /// The machine and its workload.
    public var host = HostConfiguration()
    /// ZCache's codec.
    public var compressor = CompressorKind.lz4
    /// The shrinker policies to run the scenario under (one run each).
    public var policies: [ShrinkerPolicy] = [.seed]
    /// The allocators to run the scenario under (one run each, per policy).
    public var allocators: [ZCacheAllocatorKind] = [ZCacheConfiguration().allocator]
    /// Writeback of persistent frames to the swap device, and its cap.
    public var writeback = true
    public var writebackCap = 6400
    /// ZCache's pageframe pool; nil = half of RAM.
    public var zcacheFrames: Int?
    /// Whether zcache ignores puts of pages that were never active (both front ends).
    public var nonActiveFilter = true
    /// An existing swap file to use as it is, or a path to create one at;
    /// nil = a temporary file removed after the run.
    public var swapFile: String?
    /// Page dumps to draw contents from; empty = the built-in generator.
    public var corpus: [String] = []
    /// Seed of the built-in generator (and of the corpus page choice).
    public var contentSeed: UInt64 = 1
    /// Run even when the swap file is too small for the workload (most
    /// swap-outs then fail); without it such a run is refused or reported.
    public var allowSwapFull = false
    /// Receives the cache's and the swap device's events (not recorded in result files).
    public var logger: Logger?

    // Real workloads and the cost model (issue 19).
    /// A trace file (plain or gzip) replayed instead of the synthetic pattern.
    public var trace: String?
    /// Its format; nil = guessed from its first line.
    public var traceFormat: TraceFormat?
    /// RAM as a fraction of the workload's distinct pages (a trace's, or the
    /// synthetic working set's); nil = `host.ramPages` as given.
    public var ramFraction: Double?
    /// Also run the scenario with zcache off (plain swap), as a baseline.
    public var includeZCacheOff = false
    /// Latency of one swap device (or file) page read and write, in microseconds.
    public var deviceLatencyMicros = 100.0
    /// zcache's pool limit in percent of RAM, and its accept threshold.
    public var maxPoolPercent = 100
    public var acceptThresholdPercent = 90

    /// The smallest RAM a `--ram-fraction` sizing gives: small traces have a
    /// few hundred distinct pages, and the watermarks scale down to fit.
    public static let minimumFractionRAMPages = 32

    /// These options with the host sized for `trace` (one process over its
    /// pages for an address trace, one file of its blocks for a LIRS trace,
    /// one step per reference) and RAM sized by `ramFraction`.
    public func sized(for trace: TraceSummary?) -> SimulationOptions {
        var o = self
        if let trace {
            o.trace = trace.path
            o.traceFormat = trace.format
            o.host.processes = 1
            o.host.steps = trace.references
            o.host.anonPagesPerProcess = trace.format == .address ? trace.distinctPages : 0
            o.host.files = trace.format == .lirs ? 1 : 0
            o.host.pagesPerFile = trace.format == .lirs ? trace.distinctPages : 1
        }
        if let ramFraction {
            let distinct = o.host.anonPages + o.host.filePages
            o.host.ramPages = max(
                Self.minimumFractionRAMPages, Int((Double(distinct) * ramFraction).rounded()))
        }
        return o
    }

    /// The smallest RAM these options may give: `minimumRAMPages`, or with a
    /// `--ram-fraction` sizing, `minimumFractionRAMPages`.
    var minimumRAMPages: Int {
        ramFraction == nil ? Self.minimumRAMPages : Self.minimumFractionRAMPages
    }

    /// Checks the options of this section.
    func validateWorkloadOptions() throws(SimulationError) {
        if let ramFraction, !(ramFraction > 0 && ramFraction <= 16) {
            throw .invalid("--ram-fraction must be in (0, 16], got \(ramFraction)")
        }
        guard deviceLatencyMicros >= 0, deviceLatencyMicros.isFinite else {
            throw .invalid("--device-latency-us must be at least 0, got \(deviceLatencyMicros)")
        }
        do {
            try OptionChecks.bounded(
                maxPoolPercent, 1...100, option: "--max-pool-percent", unit: "percent")
            try OptionChecks.bounded(
                acceptThresholdPercent, 0...100, option: "--accept-threshold-percent",
                unit: "percent")
        } catch {
            throw .invalid(error.message)
        }
    }

    public init() {}

    /// The smallest RAM the host model works with: its watermarks and a few
    /// reclaim batches must fit.
    public static let minimumRAMPages = 256

    /// The most pages (anonymous plus file) a host can have: its LRU lists link
    /// pages by 32-bit numbers, with -1 for "none".
    public static let maximumPages = Int(Int32.max) - 1

    /// Real memory a run takes per simulated page besides zcache's frames: LRU
    /// links and list (9 bytes), version (4), swap entry (16), flags (2), the
    /// access pattern's weight (8), tmem index and swap slot state (about 25).
    public static let hostBytesPerPage = 64

    /// The pool size used.
    public var effectiveZCacheFrames: Int { zcacheFrames ?? host.ramPages / 2 }

    /// Slots a created swap file gets: every anonymous page, plus slack for
    /// pages whose old slot is still being written.
    public var createdSwapFilePages: Int { host.anonPages + host.anonPages / 8 + 64 }

    /// Swap slots the workload cannot do without: anonymous pages that do not
    /// fit in RAM must each have a slot (zcache's frontswap keys are swap
    /// entries, so a compressed page holds one too). A file this small can
    /// never hold the working set; a somewhat larger one may still starve,
    /// which the run notices (`SimulationResult.swapDeviceWasFull`).
    public var minimumSwapSlots: Int { max(0, host.anonPages - host.ramPages) }

    /// Checks every option; the error says what is wrong and with what value.
    public func validate() throws(SimulationError) {
        try validateWorkloadOptions()
        guard host.ramPages >= minimumRAMPages else {
            throw .ramTooSmall(host.ramPages, minimum: minimumRAMPages)
        }
        do {
            try checkBounds()
        } catch {
            throw .invalid(error.message)
        }
        if let path = swapFile { try Self.checkSwapFile(path) }
        for path in corpus {
            do {
                try BenchmarkPages.check(path)
            } catch {
                throw .corpus(error)
            }
        }
        let createsSwapFile = swapFile.map { !FileManager.default.fileExists(atPath: $0) } ?? true
        if createsSwapFile { try checkRoomForCreatedSwapFile() }
    }

    /// Every number within what the host model, the arithmetic and the machine
    /// allow. Products and sums are computed with overflow checks, so any input
    /// gets an answer rather than a trap.
    private func checkBounds() throws(OptionError) {
        let h = host
        let physicalPages = Machine.physicalMemoryPages
        let physicalBytes = physicalPages.multipliedReportingOverflow(by: pageSize)
        let memory =
            "this machine's physical memory, \(Machine.describe(bytes: physicalBytes.partialValue))"
        try OptionChecks.bounded(
            h.ramPages, minimumRAMPages...max(minimumRAMPages, physicalPages),
            option: "--ram", unit: "pages", limit: memory)
        try OptionChecks.bounded(h.processes, 1...Self.maximumPages, option: "--processes")
        // A LIRS trace drives file pages only.
        let leastAnonPages = trace != nil && h.filePages > 0 ? 0 : 1
        try OptionChecks.bounded(
            h.anonPagesPerProcess, leastAnonPages...Self.maximumPages, option: "--working-set",
            unit: "pages per process")
        try OptionChecks.bounded(
            h.files, 0...Self.maximumPages, option: "--file-pages", unit: "files")
        if h.files > 0 {
            try OptionChecks.bounded(
                h.pagesPerFile, 1...Self.maximumPages, option: "--file-pages",
                unit: "pages per file")
        }
        let anon = h.processes.multipliedReportingOverflow(by: h.anonPagesPerProcess)
        let file = h.files.multipliedReportingOverflow(by: h.pagesPerFile)
        guard !anon.overflow, !file.overflow,
            anon.partialValue + file.partialValue <= Self.maximumPages
        else {
            throw OptionError(
                "--working-set plus --file-pages must be at most \(Self.maximumPages) pages")
        }
        try OptionChecks.bounded(h.steps, 0...Int.max, option: "--steps")
        try OptionChecks.bounded(h.phaseLength, 1...Int.max, option: "phase length")
        try OptionChecks.fraction(h.writeRatio, option: "--write-ratio")
        try OptionChecks.fraction(h.fileShare, option: "--file-share")
        try OptionChecks.bounded(h.swappiness, 0...200, option: "--swappiness")
        guard !policies.isEmpty || includeZCacheOff else {
            throw OptionError("--policy: no shrinker policy")
        }
        guard !allocators.isEmpty else { throw OptionError("--allocator: no allocator") }
        try OptionChecks.bounded(
            writebackCap, 1...Int(Int32.max), option: "--writeback-cap", unit: "pages")
        try OptionChecks.bounded(
            effectiveZCacheFrames, 1...max(1, h.ramPages - 4 * h.highWatermark),
            option: "--zcache-frames", unit: "frames",
            limit: "RAM less four times the high watermark")
        // The frames are real memory (the pool reserves them up front), and so
        // is the host's bookkeeping for every page.
        let frameBytes = effectiveZCacheFrames * pageSize
        let bookkeeping = (anon.partialValue + file.partialValue) * Self.hostBytesPerPage
        if !physicalBytes.overflow, frameBytes + bookkeeping > physicalBytes.partialValue {
            throw OptionError(
                "--zcache-frames \(effectiveZCacheFrames) with --working-set and --file-pages of "
                    + "\(anon.partialValue + file.partialValue) pages need about "
                    + "\(Machine.describe(bytes: frameBytes + bookkeeping)), more than \(memory)")
        }
    }

    /// A swap file the run creates is sparse, but every page the run writes
    /// to it takes disk space: refuse one that could not be filled.
    private func checkRoomForCreatedSwapFile() throws(SimulationError) {
        let path = swapFile ?? FileManager.default.temporaryDirectory.path
        let bytes = createdSwapFilePages * pageSize
        if let free = Machine.freeBytes(near: path), bytes > free {
            throw .invalid(
                "the swap file for --working-set \(host.anonPages) needs "
                    + "\(Machine.describe(bytes: bytes)), but \(path) has only "
                    + "\(Machine.describe(bytes: free)) free")
        }
    }

    /// A swap file path must be a readable, writable regular file, or not exist
    /// yet (in a directory where it can be created). Its header is checked
    /// when the run opens it.
    static func checkSwapFile(_ path: String) throws(SimulationError) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw .swapFileUnusable(path, "is a directory") }
            guard fm.isReadableFile(atPath: path), fm.isWritableFile(atPath: path) else {
                throw .swapFileUnusable(path, "cannot be read and written")
            }
        } else {
            let directory = (path as NSString).deletingLastPathComponent
            guard fm.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
                throw .swapFileUnusable(path, "does not exist and cannot be created")
            }
        }
    }
}

/// Why a simulation could not run.
public enum SimulationError: Error, Sendable, CustomStringConvertible {
    case ramTooSmall(Int, minimum: Int)
    case invalid(String)
    case corpus(BenchmarkPages.LoadError)
    case swapFileUnusable(String, String)
    case swapDevice(String, SwapDeviceError)
    /// The temporary swap file (in this directory) could not be created.
    case temporarySwapFile(String, SwapDeviceError)
    /// The swap file has fewer slots than the working set needs.
    case swapFileTooSmall(String, slots: Int, needed: Int)
    case zcache(ZCacheError)
    case trace(TraceError)

    public var description: String {
        switch self {
        case .ramTooSmall(let pages, let minimum):
            "--ram \(pages) pages is below the minimum of \(minimum) pages"
        case .invalid(let message): message
        case .corpus(let error): "--corpus \(error)"
        case .swapFileUnusable(let path, let why): "--swap-file \(path) \(why)"
        case .swapDevice(let path, let error): "--swap-file \(path): \(error)"
        case .temporarySwapFile(let directory, let error):
            "temporary swap file in \(directory): \(error)"
        case .swapFileTooSmall(let path, let slots, let needed):
            "--swap-file \(path) has \(slots) slots, but the working set needs at least \(needed) "
                + "(anonymous pages less RAM); use a larger swap file, or --allow-swap-full"
        case .zcache(let error): "zcache: \(error)"
        case .trace(let error): "\(error)"
        }
    }
}
