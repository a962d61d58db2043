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
    /// The allocators to run the scenario under (one run each, per policy).
    public var allocators: [ZCacheAllocatorKind] = [.zbud]
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
        guard h.ramPages >= Self.minimumRAMPages else {
            throw .ramTooSmall(h.ramPages, minimum: Self.minimumRAMPages)
        }
        guard h.processes >= 1 else { throw .invalid("--processes must be at least 1") }
        guard h.anonPagesPerProcess >= 1 else {
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
        guard !policies.isEmpty else { throw .invalid("no shrinker policy") }
        guard !allocators.isEmpty else { throw .invalid("no allocator") }
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

    public var description: String {
        switch self {
        case .ramTooSmall(let pages, let minimum):
            "--ram \(pages) pages is below the minimum of \(minimum) pages"
        case .invalid(let message): message
        case .corpus(let error): "corpus: \(error)"
        case .swapFileUnusable(let path, let why): "swap file \(path) \(why)"
        case .swapDevice(let path, let error): "swap file \(path): \(error)"
        case .zcache(let error): "zcache: \(error)"
        }
    }
}
