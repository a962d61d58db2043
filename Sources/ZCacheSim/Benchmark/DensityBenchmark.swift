// `zcache-sim bench`'s density part: how many pages ZCache holds per page of
// memory, against what a Swift user would write instead, on the same pages in
// one process.
//
//   dictionary   [UInt64: [UInt8]] of exact-size output of the same codec, every
//                page (zero pages included: they compress to a few bytes). Its
//                cost is the growth of the process's resident memory while it is
//                built (/proc/self/statm), or of malloc's bytes in use if larger,
//                so malloc's and Swift's per-array overheads count as they would
//                for that user. Measured once per codec before anything else
//                (`dictionaryCosts`), every dictionary alive until all are.
//   zcache       frontswap stores of every page into a fresh cache (writeback
//                off, a pool with room for every page). Its cost is the frames in
//                use plus every per-entry structure ZCache, TMem and the allocator
//                keep (`metadata_bytes`, from their real capacities); the growth of
//                resident memory is measured too, as a cross-check.
//   limit        every compressed byte of the pages the cache holds packed
//                without a gap; zero-filled and same-filled pages free. No
//                allocator can beat it. (A page the cache refuses is in neither
//                the cache's count nor its limit; the dictionary holds every page.)
//
// density = pages held / pages of memory they cost. malloc's free heap is
// given back to the system before each measurement, so neither inherits
// memory that earlier work freed.

import CMalloc
import Foundation
import ZCache
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One density measurement (JSON keys in snake_case).
public struct DensityReport: Sendable, Codable, Equatable {
    public var compressor = ""
    public var allocator = ""
    public var pages = 0
    public var zeroPages = 0
    public var sameFilledPages = 0
    /// Compressed bytes of the stored pages that are neither zero- nor same-filled.
    public var compressedBytes = 0
    /// The stored pages per page of memory with every compressed byte packed
    /// without a gap.
    public var limitPagesPerPage = 0.0
    public var dictionaryResidentBytes = 0
    public var dictionaryPagesPerPage = 0.0
    public var storedPages = 0
    public var framesInUse = 0
    public var metadataBytes = 0
    public var metadataBytesPerPage = 0.0
    /// Pages held per page of frames plus metadata.
    public var zcachePagesPerPage = 0.0
    /// Growth of resident memory while the cache was filled (cross-check).
    public var zcacheResidentBytes = 0
    /// zcache's accounted bytes (frames + metadata) over its resident growth.
    public var accountedVsResident = 0.0
    public var poolUtilization = 0.0
    public var densityVsDictionary = 0.0
    public var densityVsLimit = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case compressor, allocator, pages
        case zeroPages = "zero_pages", sameFilledPages = "same_filled_pages"
        case compressedBytes = "compressed_bytes", limitPagesPerPage = "limit_pages_per_page"
        case dictionaryResidentBytes = "dictionary_resident_bytes"
        case dictionaryPagesPerPage = "dictionary_pages_per_page"
        case storedPages = "stored_pages", framesInUse = "frames_in_use"
        case metadataBytes = "metadata_bytes", metadataBytesPerPage = "metadata_bytes_per_page"
        case zcachePagesPerPage = "zcache_pages_per_page"
        case zcacheResidentBytes = "zcache_resident_bytes"
        case accountedVsResident = "accounted_vs_resident"
        case poolUtilization = "pool_utilization"
        case densityVsDictionary = "density_vs_dictionary", densityVsLimit = "density_vs_limit"
    }
}

public enum DensityBenchmark {
    /// Measures density on `bytes` (whole pages) with the codec and cache shape of
    /// `configuration` (its pool is resized to hold every page).
    ///
    /// `dictionaryBytes`: the Dictionary's cost for this codec, measured by
    /// `dictionaryCosts` at the start of the process; measured here when nil.
    public static func run(
        pages bytes: [UInt8], configuration base: ZCacheConfiguration, dictionaryBytes: Int? = nil
    ) throws(BenchError) -> DensityReport {
        let n = bytes.count / pageSize
        guard n > 0 else { throw .noPages }
        var report = DensityReport()
        report.pages = n
        report.compressor = base.compressor.rawValue
        let codec = Compressor(base.compressor)
        // Compressed size of each page that takes room (not zero- or same-filled).
        var packedSizes = [Int](repeating: 0, count: n)

        bytes.withUnsafeBytes { all in
            func page(_ i: Int) -> UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(rebasing: all[i * pageSize..<(i + 1) * pageSize])
            }
            // Each page's compressed size, for the limit.
            withUnsafeTemporaryAllocation(byteCount: Compressor.maxCompressedSize, alignment: 16) {
                buffer in
                for i in 0..<n {
                    if PageContentSource.isZero(page(i)) {
                        report.zeroPages += 1
                    } else if sameFilledWord(page(i)) != nil {
                        report.sameFilledPages += 1
                    } else {
                        packedSizes[i] =
                            codec.compress(page(i), into: buffer, bound: buffer.count) ?? 0
                    }
                }
            }
        }
        report.dictionaryResidentBytes =
            dictionaryBytes ?? dictionaryCosts(pages: bytes, codecs: [base.compressor])[
                base.compressor] ?? 0
        report.dictionaryPagesPerPage = pagesPerPage(n, bytes: report.dictionaryResidentBytes)

        var configuration = base
        configuration.pageframes = n + 64
        ProcessMemory.trimHeap()
        configuration.writebackEnabled = false
        configuration.ignoreNonActivePersistentPuts = false
        let before = ProcessMemory.residentBytes()
        let zcache = ZCache(configuration: configuration)
        var failure: ZCacheError?
        bytes.withUnsafeBytes { all in
            do throws(ZCacheError) {
                try zcache.frontswapInit(type: 0)
                for i in 0..<n {
                    let page = UnsafeRawBufferPointer(
                        rebasing: all[i * pageSize..<(i + 1) * pageSize])
                    if try zcache.frontswapStore(type: 0, offset: UInt64(i + 1), page: page)
                        .isStored
                    {
                        report.storedPages += 1
                        report.compressedBytes += packedSizes[i]
                    }
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw .zcache(failure) }
        report.zcacheResidentBytes = max(0, ProcessMemory.residentBytes() - before)
        // The limit for the pages the cache holds (the dictionary holds every page).
        report.limitPagesPerPage = pagesPerPage(report.storedPages, bytes: report.compressedBytes)
        let memory = MemoryUsage(zcache)
        report.allocator = memory.allocator
        report.framesInUse = memory.framesInUse
        report.metadataBytes = memory.metadataBytes
        report.metadataBytesPerPage =
            report.storedPages == 0 ? 0 : Double(memory.metadataBytes) / Double(report.storedPages)
        let accounted = memory.framesInUse * pageSize + memory.metadataBytes
        report.zcachePagesPerPage = pagesPerPage(report.storedPages, bytes: accounted)
        report.accountedVsResident =
            report.zcacheResidentBytes == 0
            ? 0 : Double(accounted) / Double(report.zcacheResidentBytes)
        report.poolUtilization =
            memory.framesInUse == 0
            ? 0 : Double(memory.objectBytes) / Double(memory.framesInUse * pageSize)
        report.densityVsDictionary =
            report.dictionaryPagesPerPage == 0
            ? 0 : report.zcachePagesPerPage / report.dictionaryPagesPerPage
        report.densityVsLimit =
            report.limitPagesPerPage == 0 ? 0 : report.zcachePagesPerPage / report.limitPagesPerPage
        withExtendedLifetime(zcache) {}
        return report
    }

    /// Pages per page of memory (0 when nothing was measured).
    static func pagesPerPage(_ pages: Int, bytes: Int) -> Double {
        bytes == 0 ? 0 : Double(pages) * Double(pageSize) / Double(bytes)
    }

    /// What a `[UInt64: [UInt8]]` of each codec's exact-size output of every
    /// page costs, from the growth of resident memory (or of malloc's bytes in
    /// use, if larger) while it is built. Every dictionary stays alive until
    /// all are measured, and this should run before other work: a dictionary
    /// built into heap that earlier work freed is not seen by either figure.
    public static func dictionaryCosts(pages bytes: [UInt8], codecs: [CompressorKind])
        -> [CompressorKind: Int]
    {
        let n = bytes.count / pageSize
        var costs: [CompressorKind: Int] = [:]
        var dictionaries: [[UInt64: [UInt8]]] = []
        ProcessMemory.trimHeap()
        bytes.withUnsafeBytes { all in
            for kind in codecs where costs[kind] == nil {
                let codec = Compressor(kind)
                var dictionary: [UInt64: [UInt8]] = [:]
                let before = ProcessMemory.residentBytes()
                let mallocBefore = ProcessMemory.mallocInUseBytes()
                withUnsafeTemporaryAllocation(
                    byteCount: Compressor.maxCompressedSize, alignment: 16
                ) { buffer in
                    for i in 0..<n {
                        let page = UnsafeRawBufferPointer(
                            rebasing: all[i * pageSize..<(i + 1) * pageSize])
                        let size = codec.compress(page, into: buffer, bound: buffer.count) ?? 0
                        dictionary[UInt64(i)] = Array(
                            UnsafeRawBufferPointer(rebasing: buffer[..<size]))
                    }
                }
                costs[kind] = max(
                    0, ProcessMemory.residentBytes() - before,
                    ProcessMemory.mallocInUseBytes() - mallocBefore)
                dictionaries.append(dictionary)
            }
        }
        withExtendedLifetime(dictionaries) {}
        dictionaries.removeAll()
        ProcessMemory.trimHeap()
        return costs
    }

    /// The repeated 8-byte word of a page made of one, else nil.
    static func sameFilledWord(_ page: UnsafeRawBufferPointer) -> UInt64? {
        let first = page.loadUnaligned(as: UInt64.self)
        for offset in stride(from: 8, to: page.count, by: 8)
        where page.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != first {
            return nil
        }
        return first
    }

    /// Rows of reports side by side (one column per report).
    public static func table(_ reports: [DensityReport]) -> String {
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        let rows: [(String, (DensityReport) -> String)] = [
            ("compressor / allocator", { "\($0.compressor)/\($0.allocator)" }),
            (
                "pages (zero, same-filled)",
                { "\($0.pages) (\($0.zeroPages), \($0.sameFilledPages))" }
            ),
            ("stored pages", { "\($0.storedPages)" }),
            ("frames in use", { "\($0.framesInUse)" }),
            ("metadata bytes per page", { String(format: "%.1f", $0.metadataBytesPerPage) }),
            ("pool utilization", { f($0.poolUtilization) }),
            ("zcache pages per page", { f($0.zcachePagesPerPage) }),
            ("dictionary pages per page", { f($0.dictionaryPagesPerPage) }),
            ("limit pages per page", { f($0.limitPagesPerPage) }),
            ("density vs dictionary", { f($0.densityVsDictionary) }),
            ("density vs limit", { f($0.densityVsLimit) }),
            ("accounted / resident growth", { f($0.accountedVsResident) }),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { row in
            row.0.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                + reports.map { row.1($0).leftPadded(22) }.joined()
        }.joined(separator: "\n")
    }
}

/// The process's own memory accounting, from the kernel.
public enum ProcessMemory {
    /// Resident bytes of this process (`/proc/self/statm`, second field), or 0
    /// where that file does not exist.
    public static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
            return 0
        }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Returns the free parts of malloc's heap to the system (glibc).
    public static func trimHeap() { zcache_malloc_trim() }

    /// Bytes malloc has handed out and not had back (glibc's `mallinfo2`;
    /// 0 elsewhere).
    public static func mallocInUseBytes() -> Int { Int(zcache_malloc_in_use_bytes()) }
}

/// What a cache's memory holds, as the density report needs it.
struct MemoryUsage {
    var allocator: String
    var framesInUse: Int
    var metadataBytes: Int
    var objectBytes: Int

    init(_ zcache: ZCache) {
        let s = zcache.statistics
        allocator = s.allocator.allocator.rawValue
        framesInUse = s.allocator.framesInUse
        // TMem's, the allocators' and ZCache's per-entry structures, from
        // their real capacities.
        metadataBytes = s.allocator.metadataBytes
        // As stored: compressed bytes plus the 32-byte key in front of each.
        objectBytes = s.allocator.ephemeral.objectBytes + s.allocator.persistent.objectBytes
    }
}

extension String {
    /// The string right-aligned in `width` columns.
    public func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
