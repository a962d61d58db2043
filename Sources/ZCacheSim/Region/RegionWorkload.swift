// `zcache-sim region`: a program's own workload over a ZCacheRegion several
// times larger than its resident limit, every value it reads checked.
//
//   1. image:  write page i of the contents (corpus page i, cycling, or the
//              built-in generator) into region page i; read every page back
//              and compare; measure the memory the whole readable region takes
//              (mapped pages + the cache's pageframes) against its size.
//   2. hash:   the region becomes an open-addressing hash table of 64-byte
//              slots (8-byte key, 56-byte value cut from the contents, so values
//              compress like the heap); insert, then look keys up (half
//              present, half absent), checking every value found.
//   3. window: random reads and writes of words, 97 % in a window of half
//              the resident limit that drifts through the region, 3 % anywhere,
//              every read checked against a model: a working set with locality,
//              where the reclaim policy matters (the hash table has none).
//   4. speed:  the median bare LZ4 decompression of the contents' pages, timed
//              in the same run, beside the region's median zcache fault service.

import Foundation
import ZCache
import ZCacheRegion
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// What to run.
public struct RegionWorkloadOptions: Sendable {
    /// Region size in pages.
    public var pages = 8192
    /// Pages that may be mapped at once (default: an eighth of the region).
    public var residentLimit: Int?
    /// Contents: concatenated corpus pages, or empty for the built-in generator.
    public var corpus: [UInt8] = []
    /// Lookups in the hash phase.
    public var lookups = 200_000
    /// Word accesses in the window phase.
    public var windowAccesses = 2_000_000
    /// Fraction of the table's slots filled in the hash phase.
    public var loadFactor = 0.7
    public var policy = ReclaimPolicy.clock
    /// The cache's gets: exclusive (the cache's default: a load takes the
    /// only copy) or not (a page only read since its load keeps its copy, and
    /// is dropped again without a store, at the price of that copy's memory).
    public var exclusiveGets = true
    public var compressor = CompressorKind.lz4
    /// ZCache's pageframe pool (default: as many frames as the region has pages).
    public var zcacheFrames: Int?
    /// The swap file; a temporary one when nil.
    public var swapFile: String?
    public var seed: UInt64 = 1

    public init() {}
}

/// What a run measured.
public struct RegionWorkloadReport: Sendable, Codable {
    public var pages = 0
    public var residentLimit = 0
    public var contents = ""
    public var policy = ""
    public var exclusiveGets = false

    /// Image phase: pages checked, wrong, and memory while all readable.
    public var imagePagesChecked = 0
    public var imagePagesWrong = 0
    public var imageMemoryFraction = 0.0
    public var imageResidentPages = 0
    public var imageKernelResidentPages = 0
    public var imageCachePageframes = 0
    public var imageEffectiveCompression = 0.0
    public var imageSeconds = 0.0

    /// Hash phase.
    public var inserts = 0
    public var lookups = 0
    public var valuesChecked = 0
    public var valuesWrong = 0
    public var hashSeconds = 0.0
    /// Missing-page faults during the hash phase (each one a round trip
    /// through the handler: the wall time per fault includes the user's work).
    public var hashFaults = 0

    /// Window phase.
    public var windowAccesses = 0
    public var windowReadsWrong = 0
    public var windowFaults = 0
    public var windowWriteProtectFaults = 0
    public var windowSeconds = 0.0

    /// Speed: bare LZ4 decompression of the contents' pages, median, and the
    /// ratio of the median zcache fault service to it.
    public var bareLZ4DecompressMedianNanoseconds: UInt64 = 0
    public var faultToDecompressRatio = 0.0

    /// The region's statistics at the end.
    public var region = ZCacheRegionStatistics()
    public var writtenbackPages = 0

    public init() {}
}

public enum RegionWorkload {
    public enum Failure: Error, CustomStringConvertible {
        case region(ZCacheRegionError)
        case swapDevice(String)

        public var description: String {
            switch self {
            case .region(let error): "region: \(error)"
            case .swapDevice(let message): "swap device: \(message)"
            }
        }
    }

    public static func run(_ options: RegionWorkloadOptions) throws(Failure) -> RegionWorkloadReport
    {
        let pages = options.pages
        let limit = options.residentLimit ?? max(ZCacheRegionLimits.minimumResidentLimit, pages / 8)
        var configuration = ZCacheConfiguration()
        configuration.compressor = options.compressor
        configuration.exclusiveGets = options.exclusiveGets
        configuration.pageframes = options.zcacheFrames ?? pages
        let cache = ZCache(configuration: configuration)

        // An existing --swap-file is used as it is, a new one is created, and
        // without one the file's name is gone as soon as it is open: nothing
        // outlives the run.
        do {
            let device: SwapDevice
            if let path = options.swapFile {
                device =
                    FileManager.default.fileExists(atPath: path)
                    ? try SwapDevice.open(path: path)
                    : try SwapDevice.create(path: path, pages: pages + 1, type: 0)
            } else {
                device = try SwapDevice.createTemporary(
                    in: FileManager.default.temporaryDirectory.path, pages: pages + 1)
            }
            try cache.attachSwapDevice(device)
        } catch {
            throw .swapDevice("\(error)")
        }
        let region: ZCacheRegion
        do {
            region = try ZCacheRegion(
                pages: pages, residentLimit: limit, cache: cache, swapType: 0,
                policy: options.policy)
        } catch {
            throw .region(error)
        }
        defer { region.close() }

        let contents = RegionContents(corpus: options.corpus, seed: options.seed)
        var report = RegionWorkloadReport()
        report.pages = pages
        report.residentLimit = limit
        report.contents = contents.name
        report.policy = options.policy.rawValue
        report.exclusiveGets = options.exclusiveGets

        runImage(region, contents, &report)
        runHashTable(region, contents, options, &report)
        runWindow(region, options, &report)
        report.bareLZ4DecompressMedianNanoseconds = bareDecompressMedian(contents, pages: pages)

        region.waitUntilIdle()
        report.region = region.statistics
        report.writtenbackPages = cache.statistics.zcache.writtenbackPages
        let fault = report.region.zcacheFaultService.p50Nanoseconds
        if report.bareLZ4DecompressMedianNanoseconds > 0 {
            report.faultToDecompressRatio =
                Double(fault) / Double(report.bareLZ4DecompressMedianNanoseconds)
        }
        return report
    }

    /// Phase 1: the contents as a memory image, all of it read back.
    private static func runImage(
        _ region: ZCacheRegion, _ contents: RegionContents, _ report: inout RegionWorkloadReport
    ) {
        let start = monotonicSeconds()
        let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { expected.deallocate() }
        for page in 0..<region.pages {
            contents.fill(page: page, into: expected)
            UnsafeMutableRawBufferPointer(
                rebasing: region.buffer[page * pageSize..<(page + 1) * pageSize]
            ).copyMemory(from: UnsafeRawBufferPointer(expected))
        }
        for page in 0..<region.pages {
            contents.fill(page: page, into: expected)
            let actual = region.baseAddress + page * pageSize
            if memcmp(actual, expected.baseAddress!, pageSize) != 0 { report.imagePagesWrong += 1 }
            report.imagePagesChecked += 1
        }
        region.waitUntilIdle()
        let statistics = region.statistics
        report.imageMemoryFraction = statistics.memoryFraction
        report.imageResidentPages = statistics.residentPages
        report.imageCachePageframes = statistics.cachePageframes
        report.imageEffectiveCompression = statistics.effectiveCompression
        report.imageKernelResidentPages = mappedPages(region)
        report.imageSeconds = monotonicSeconds() - start
    }

    /// Phase 2: an open-addressing hash table (linear probing) in the region.
    private static func runHashTable(
        _ region: ZCacheRegion, _ contents: RegionContents, _ options: RegionWorkloadOptions,
        _ report: inout RegionWorkloadReport
    ) {
        let start = monotonicSeconds()
        let faultsBefore = missingFaults(region)
        let table = RegionHashTable(region.buffer)
        table.clear()
        let inserts = Int(Double(table.slots) * options.loadFactor)
        var value = [UInt8](repeating: 0, count: RegionHashTable.valueSize)
        var found = [UInt8](repeating: 0, count: RegionHashTable.valueSize)
        for i in 0..<inserts {
            let key = RegionHashTable.key(i, seed: options.seed)
            contents.value(forKey: key, into: &value)
            table.insert(key: key, value: value)
        }
        report.inserts = inserts
        var generator = SplitMix64(seed: options.seed ^ 0x5EED)
        for _ in 0..<options.lookups {
            // Half the lookups name an inserted key, half one never inserted.
            let i = Int(generator.next() % UInt64(2 * inserts))
            let key = RegionHashTable.key(i, seed: options.seed)
            let present = table.lookup(key: key, into: &found)
            report.valuesChecked += 1
            if i < inserts {
                contents.value(forKey: key, into: &value)
                if !present || found != value { report.valuesWrong += 1 }
            } else if present {
                report.valuesWrong += 1
            }
        }
        report.lookups = options.lookups
        report.hashSeconds = monotonicSeconds() - start
        report.hashFaults = missingFaults(region) - faultsBefore
    }

    /// Phase 3: a drifting working set of half the resident limit.
    private static func runWindow(
        _ region: ZCacheRegion, _ options: RegionWorkloadOptions,
        _ report: inout RegionWorkloadReport
    ) {
        let start = monotonicSeconds()
        let faultsBefore = missingFaults(region)
        let writeProtectBefore = region.statistics.writeProtectFaults
        let wordsPerPage = pageSize / 8
        let pages = region.pages
        let window = max(1, region.residentLimit / 2)
        let words = region.buffer.bindMemory(to: UInt64.self)
        // The model starts as what the hash phase left.
        var model = Array(words)
        var generator = SplitMix64(seed: options.seed ^ 0x3141)
        for step in 0..<options.windowAccesses {
            let random = generator.next()
            let page =
                random % 100 < 97
                ? (step / 256 + Int((random >> 8) % UInt64(window))) % pages
                : Int((random >> 8) % UInt64(pages))
            let word = page * wordsPerPage + Int((random >> 40) % UInt64(wordsPerPage))
            if (random >> 7) & 1 == 0 {
                // Small values, so written pages still compress.
                let value = generator.next() & 0xff
                words[word] = value
                model[word] = value
            } else if words[word] != model[word] {
                report.windowReadsWrong += 1
            }
        }
        report.windowAccesses = options.windowAccesses
        report.windowSeconds = monotonicSeconds() - start
        report.windowFaults = missingFaults(region) - faultsBefore
        report.windowWriteProtectFaults = region.statistics.writeProtectFaults - writeProtectBefore
    }

    private static func missingFaults(_ region: ZCacheRegion) -> Int {
        let s = region.statistics
        return s.zeroFaults + s.zcacheFaults + s.swapCacheFaults + s.deviceFaults + s.lostPages
    }

    /// Median time of LZ4-decompressing one of the contents' pages, each
    /// timed alone with the same clock the fault handler uses. Every page is
    /// compressed first and they are decompressed in a shuffled order, so
    /// that, as at a fault, the compressed bytes are not the ones the CPU
    /// just wrote (the region's pages are about 12 MB compressed).
    private static func bareDecompressMedian(_ contents: RegionContents, pages: Int) -> UInt64 {
        let compressor = Compressor(.lz4)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        let scratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: Compressor.maxCompressedSize, alignment: 16)
        defer {
            page.deallocate()
            scratch.deallocate()
        }
        var compressed: [[UInt8]] = []
        for index in 0..<pages {
            contents.fill(page: index, into: page)
            guard
                let size = compressor.compress(
                    UnsafeRawBufferPointer(page), into: scratch, bound: scratch.count)
            else { continue }
            compressed.append(Array(UnsafeRawBufferPointer(rebasing: scratch[..<size])))
        }
        var generator = SplitMix64(seed: 0xDEC0)
        compressed.shuffle(using: &generator)
        var times: [UInt64] = []
        times.reserveCapacity(compressed.count)
        for bytes in compressed {
            bytes.withUnsafeBytes { source in
                let start = monotonicNanoseconds()
                do { try compressor.decompress(source, into: page) } catch { return }
                times.append(monotonicNanoseconds() - start)
            }
        }
        guard !times.isEmpty else { return 0 }
        times.sort()
        return times[times.count / 2]
    }

    /// The kernel's count of mapped pages of the region (mincore).
    private static func mappedPages(_ region: ZCacheRegion) -> Int {
        var vector = [UInt8](repeating: 0, count: region.pages)
        guard mincore(region.baseAddress, region.buffer.count, &vector) == 0 else { return -1 }
        return vector.reduce(0) { $0 + Int($1 & 1) }
    }
}

@inline(__always)
func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }
