// Everything a `zcache-sim run` can be asked to do, and its validation.
// The CLI maps its flags onto this; tests validate it directly.

import Foundation
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

    /// Checks the options of this section.
    func validateWorkloadOptions() throws(SimulationError) {
        if let ramFraction, !(ramFraction > 0 && ramFraction <= 16) {
            throw .invalid("--ram-fraction must be in (0, 16], got \(ramFraction)")
        }
        guard deviceLatencyMicros >= 0, deviceLatencyMicros.isFinite else {
            throw .invalid("--device-latency-us must be at least 0, got \(deviceLatencyMicros)")
        }
        guard (1...100).contains(maxPoolPercent) else {
            throw .invalid("--max-pool-percent must be in 1...100, got \(maxPoolPercent)")
        }
        guard (0...100).contains(acceptThresholdPercent) else {
            throw .invalid(
                "--accept-threshold-percent must be in 0...100, got \(acceptThresholdPercent)")
        }
    }

    public init() {}

    /// The smallest RAM the host model works with: its watermarks and a few
    /// reclaim batches must fit.
    public static let minimumRAMPages = 256

    /// The pool size used.
    public var effectiveZCacheFrames: Int { zcacheFrames ?? host.ramPages / 2 }

    /// Slots a created swap file gets: every anonymous page, plus slack for
    /// pages whose old slot is still being written.
    public var createdSwapFilePages: Int { host.anonPages + host.anonPages / 8 + 64 }

    /// Checks every option; the error says what is wrong and with what value.
    public func validate() throws(SimulationError) {
        let h = host
        try validateWorkloadOptions()
        let minimumRAM = ramFraction == nil ? Self.minimumRAMPages : Self.minimumFractionRAMPages
        guard h.ramPages >= minimumRAM else {
            throw .ramTooSmall(h.ramPages, minimum: minimumRAM)
        }
        guard h.processes >= 1 else { throw .invalid("--processes must be at least 1") }
        // A LIRS trace has file pages only.
        guard h.anonPagesPerProcess >= 1 || (trace != nil && h.filePages > 0) else {
            throw .invalid("--working-set must give each process at least one page")
        }
        guard h.files >= 0, h.pagesPerFile >= 1 || h.files == 0 else {
            throw .invalid("--file-pages must be at least 0")
        }
        guard h.anonPages + h.filePages < Int(Int32.max) else {
            throw .invalid("working set too large")
        }
        guard h.steps >= 0 else { throw .invalid("--steps must be at least 0") }
        guard (0...1).contains(h.writeRatio) else {
            throw .invalid("--write-ratio must be in 0...1")
        }
        guard (0...1).contains(h.fileShare) else { throw .invalid("--file-share must be in 0...1") }
        guard (0...200).contains(h.swappiness) else {
            throw .invalid("--swappiness must be in 0...200")
        }
        guard !policies.isEmpty || includeZCacheOff else { throw .invalid("no shrinker policy") }
        guard writebackCap >= 1 else { throw .invalid("--writeback-cap must be at least 1") }
        let frames = effectiveZCacheFrames
        guard frames >= 1, frames <= h.ramPages - 4 * h.highWatermark else {
            throw .invalid(
                "--zcache-frames must be between 1 and \(h.ramPages - 4 * h.highWatermark) "
                    + "(RAM less four times the high watermark), got \(frames)")
        }
        if let path = swapFile { try Self.checkSwapFile(path) }
        for path in corpus { try Self.checkCorpusFile(path) }
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

    static func checkCorpusFile(_ path: String) throws(SimulationError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.intValue,
            FileManager.default.isReadableFile(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular
        else { throw .corpus(.unreadable(path)) }
        guard size > 0, size % pageSize == 0 else { throw .corpus(.notWholePages(path, size)) }
    }
}

/// Why a simulation could not run.
public enum SimulationError: Error, Sendable, CustomStringConvertible {
    case ramTooSmall(Int, minimum: Int)
    case invalid(String)
    case corpus(BenchmarkPages.LoadError)
    case swapFileUnusable(String, String)
    case swapDevice(String, SwapDeviceError)
    case zcache(ZCacheError)
    case trace(TraceError)

    public var description: String {
        switch self {
        case .ramTooSmall(let pages, let minimum):
            "--ram \(pages) pages is below the minimum of \(minimum) pages"
        case .invalid(let message): message
        case .corpus(let error): "corpus: \(error)"
        case .swapFileUnusable(let path, let why): "swap file \(path) \(why)"
        case .swapDevice(let path, let error): "swap file \(path): \(error)"
        case .zcache(let error): "zcache: \(error)"
        case .trace(let error): "\(error)"
        }
    }
}
