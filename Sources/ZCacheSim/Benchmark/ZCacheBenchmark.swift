// `zcache-sim bench`: what the cache costs over the bare codec, on the same
// pages in one process.
//
//   1. bare codec: compress every page (bound: one page), then decompress
//      every compressed page; verified after timing
//   2. ZCache frontswap (writeback off, a pool of one frame per page, so
//      nothing is evicted): store every page, then load every stored page;
//      verified after timing
//   Phases 1 and 2 run in rounds (default 7), a fresh ZCache each round,
//   paired: compress then store, decompress then load (each into an output
//   filled just before), and decompress then load again in a random order
//   (the pages stored again, untimed), as swap-ins come in fault order. A rate is the median round's; a ratio (store /
//   compress, load / decompress) is the median of the rounds' ratios, each
//   between the two phases of a pair (`RoundTimes`). Every buffer is touched
//   before timing, and each round's ZCache is warmed by an untimed store and
//   load of every page, so neither side pays first-touch page faults.
//   3. density: the frames zcache used against the offline optimum of packing
//      the same accepted sizes: at most two per frame by zbud's chunk rule
//      (zbud), or every byte packed without a gap (other allocators); and the
//      allocator's figures: frames in use, pool utilization, metadata per page
//   4. density against a Dictionary of compressed arrays and against the
//      packing limit, with the bench's codec and with zstd (DensityBenchmark)
//
// With N threads the pages are split into N contiguous slices, one per
// thread, for every timed phase; the clock runs from releasing all threads
// to the last one finishing.

import Foundation
import ZBud
import ZCache
import ZCacheSupport

/// The figures `zcache-sim bench` reports (JSON keys are the names).
public struct BenchReport: Sendable, Codable, Equatable {
    public var pages = 0
    public var zeroPages = 0
    public var compressor = ""
    public var allocator = ZCacheAllocatorKind.zbud
    public var threads = 1
    public var rawCompressPagesPerSec = 0.0
    public var storePagesPerSec = 0.0
    public var storeVsRaw = 0.0
    public var rawDecompressPagesPerSec = 0.0
    public var loadPagesPerSec = 0.0
    public var loadVsRaw = 0.0
    /// The same decompressions and loads in a random order (swap-ins come in
    /// fault order, not in the order the pages were stored).
    public var rawDecompressRandomOrderPagesPerSec = 0.0
    public var loadRandomOrderPagesPerSec = 0.0
    public var loadVsRawRandomOrder = 0.0
    public var storedPages = 0
    public var rejectedPages = 0
    public var pageframes = 0
    public var optimalPageframes = 0
    public var densityVsOptimal = 0.0
    public var pagesPerFrame = 0.0
    /// Pages stored as one repeated word (no frame), zero pages included.
    public var sameFilledPages = 0
    /// Frames both allocator classes hold after the stores.
    public var framesInUse = 0
    /// Live stored bytes (key prefix included) over the bytes of those frames.
    public var poolUtilization = 0.0
    /// Bytes of per-entry structures (TMem, allocator, LRU) per stored page.
    public var metadataBytesPerPage = 0.0
    /// Its parts per stored page: TMem, the allocators, ZCache's own (LRU).
    public var metadataTMemPerPage = 0.0
    public var metadataAllocatorsPerPage = 0.0
    public var metadataZCachePerPage = 0.0
    public var rawCompressionRatio = 0.0
    public var verifiedPages = 0
    public var mismatchedPages = 0
    /// Density against a Dictionary of compressed arrays and the packing limit:
    /// the bench's codec first, then zstd (`DensityBenchmark`).
    public var density: [DensityReport] = []
    /// `density[0]`'s two ratios, at the top level for scripts.
    public var densityVsDictionary = 0.0
    public var densityVsLimit = 0.0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case pages, zeroPages = "zero_pages", compressor, allocator, threads
        case rawCompressPagesPerSec = "raw_compress_pages_per_sec"
        case storePagesPerSec = "store_pages_per_sec", storeVsRaw = "store_vs_raw"
        case rawDecompressPagesPerSec = "raw_decompress_pages_per_sec"
        case loadPagesPerSec = "load_pages_per_sec", loadVsRaw = "load_vs_raw"
        case rawDecompressRandomOrderPagesPerSec = "raw_decompress_random_order_pages_per_sec"
        case loadRandomOrderPagesPerSec = "load_random_order_pages_per_sec"
        case loadVsRawRandomOrder = "load_vs_raw_random_order"
        case storedPages = "stored_pages", rejectedPages = "rejected_pages"
        case pageframes, optimalPageframes = "optimal_pageframes"
        case densityVsOptimal = "density_vs_optimal", pagesPerFrame = "pages_per_frame"
        case sameFilledPages = "same_filled_pages", framesInUse = "frames_in_use"
        case poolUtilization = "pool_utilization", metadataBytesPerPage = "metadata_bytes_per_page"
        case metadataTMemPerPage = "metadata_tmem_per_page"
        case metadataAllocatorsPerPage = "metadata_allocators_per_page"
        case metadataZCachePerPage = "metadata_zcache_per_page"
        case rawCompressionRatio = "raw_compression_ratio"
        case verifiedPages = "verified_pages", mismatchedPages = "mismatched_pages"
        case density, densityVsDictionary = "density_vs_dictionary"
        case densityVsLimit = "density_vs_limit"
    }
}

/// Why a benchmark could not run.
public enum BenchError: Error, Sendable, CustomStringConvertible {
    case noPages
    case badThreadCount(Int)
    case zcache(ZCacheError)

    public var description: String {
        switch self {
        case .noPages: "no pages to benchmark"
        case .badThreadCount(let n): "--threads must be between 1 and 256, got \(n)"
        case .zcache(let error): "zcache: \(error)"
        }
    }
}

/// Raw pointers handed to worker threads; each thread touches only its slice.
private struct SharedBuffers: @unchecked Sendable {
    let input: UnsafeRawBufferPointer
    let compressed: UnsafeMutableRawBufferPointer
    let sizes: UnsafeMutableBufferPointer<Int>
    let output: UnsafeMutableRawBufferPointer
    let results: UnsafeMutableBufferPointer<UInt8>

    func inputPage(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: input[i * pageSize..<(i + 1) * pageSize])
    }

    func outputPage(_ i: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: output[i * pageSize..<(i + 1) * pageSize])
    }
}

public enum ZCacheBenchmark {
    static let slot = Compressor.maxCompressedSize

    /// Benchmarks `bytes` (whole pages) with `compressor` and `allocator` on `threads` threads.
    public static func run(
        pages bytes: [UInt8], compressor kind: CompressorKind,
        allocator: ZCacheAllocatorKind = .zbud, threads: Int, rounds: Int = 7,
        dictionaryCosts: [CompressorKind: Int] = [:]
    )
        throws(BenchError) -> BenchReport
    {
        let n = bytes.count / pageSize
        guard n > 0 else { throw .noPages }
        guard (1...256).contains(threads) else { throw .badThreadCount(threads) }
        let rounds = max(1, rounds)
        var report = BenchReport()
        report.pages = n
        report.compressor = kind.rawValue
        report.allocator = allocator
        report.threads = threads

        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: n * pageSize, alignment: 64)
        let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: n * slot, alignment: 64)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: n * pageSize, alignment: 64)
        let sizes = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: n)
        defer {
            input.deallocate()
            compressed.deallocate()
            output.deallocate()
            sizes.deallocate()
            results.deallocate()
        }
        bytes.withUnsafeBytes { input.copyMemory(from: $0) }
        let shared = SharedBuffers(
            input: UnsafeRawBufferPointer(input), compressed: compressed, sizes: sizes,
            output: output, results: results)
        for i in 0..<n where PageContentSource.isZero(shared.inputPage(i)) { report.zeroPages += 1 }

        // Touch every buffer first so no phase pays for first-touch page faults.
        compressed.initializeMemory(as: UInt8.self, repeating: 0)
        output.initializeMemory(as: UInt8.self, repeating: 0)

        let codec = Compressor(kind)
        var configuration = ZCacheConfiguration()
        configuration.compressor = kind
        configuration.pageframes = n + 64
        configuration.writebackEnabled = false
        configuration.allocator = allocator
        let stored = UnsafeMutableBufferPointer<Bool>.allocate(capacity: n)
        let inAllocator = UnsafeMutableBufferPointer<Bool>.allocate(capacity: n)
        defer {
            stored.deallocate()
            inAllocator.deallocate()
        }
        let flags = UncheckedSendable(UnsafeBufferPointer(stored))

        // Each round runs the four phases in turn, each side's phase right
        // after the other's; a round's ratio compares the two under the same
        // conditions, and the median round counts (see `RoundTimes`).
        var times = RoundTimes()
        // The order of the loads (and their bare decompressions): the pages'
        // order, then one fixed random permutation.
        let orders = UnsafeMutableBufferPointer<Int>.allocate(capacity: 2 * n)
        defer { orders.deallocate() }
        var permutation = Array(0..<n)
        var random = SplitMix64(seed: 0x10AD)
        permutation.shuffle(using: &random)
        for i in 0..<n {
            orders[i] = i
            orders[n + i] = permutation[i]
        }
        let storeOrder = UncheckedSendable(UnsafeBufferPointer(rebasing: orders[0..<n]))
        let randomOrder = UncheckedSendable(UnsafeBufferPointer(rebasing: orders[n..<(2 * n)]))
        var rawMismatches = 0
        for round in 0..<rounds {
            // A fresh ZCache each round.
            // results of the store: 0 error, 1 stored, 2 same-filled (zero or not), 3 rejected.
            let zcache = ZCache(configuration: configuration)
            do {
                try zcache.frontswapInit(type: 0)
            } catch {
                throw .zcache(error)
            }
            // Warm it (untimed): a store and a load of every page fault in the
            // frame pool and per-thread buffers, as in a cache that has run.
            for i in 0..<n {
                _ = try? zcache.frontswapStore(
                    type: 0, offset: UInt64(i + 1), page: shared.inputPage(i))
            }
            for i in 0..<n {
                _ = try? zcache.frontswapLoad(
                    type: 0, offset: UInt64(i + 1), into: shared.outputPage(i))
            }
            // Compress, then store: the bare codec, then ZCache.
            times.compress.append(
                parallel(threads: threads, pages: n) { range in
                    for i in range {
                        let dst = UnsafeMutableRawBufferPointer(
                            rebasing: shared.compressed[i * slot..<(i + 1) * slot])
                        shared.sizes[i] =
                            codec.compress(shared.inputPage(i), into: dst, bound: pageSize) ?? 0
                    }
                })
            times.store.append(
                parallel(threads: threads, pages: n) { range in
                    for i in range {
                        let outcome = try? zcache.frontswapStore(
                            type: 0, offset: UInt64(i + 1), page: shared.inputPage(i))
                        shared.results[i] =
                            switch outcome {
                            case .stored: 1
                            case .storedZeroFilled, .storedSameFilled: 2
                            case .rejected: 3
                            case nil: 0
                            }
                    }
                })
            if round == 0 {
                report.storedPages = results.filter { $0 == 1 || $0 == 2 }.count
                report.rejectedPages = results.filter { $0 == 0 || $0 == 3 }.count
                let statistics = zcache.statistics
                report.pageframes = statistics.zcache.persPageframes
                report.sameFilledPages = statistics.zcache.sameFilledPages
                report.framesInUse = statistics.allocator.framesInUse
                report.poolUtilization = statistics.allocator.poolUtilization
                let a = statistics.allocator
                report.metadataBytesPerPage = a.metadataBytesPerPage
                let perPage =
                    a.metadataBytes == 0 ? 0 : a.metadataBytesPerPage / Double(a.metadataBytes)
                report.metadataTMemPerPage = Double(a.metadataBytesTMem) * perPage
                report.metadataAllocatorsPerPage = Double(a.metadataBytesAllocators) * perPage
                report.metadataZCachePerPage = Double(a.metadataBytesZCache) * perPage
            }
            for i in 0..<n {
                stored[i] = results[i] == 1 || results[i] == 2
                inAllocator[i] = results[i] == 1
            }
            // Decompress, then load, each into a freshly filled output: in
            // store order, then (the pages stored again, untimed) in a random
            // order, as swap-ins come in fault order.
            for (pass, order) in [(0, storeOrder), (1, randomOrder)] {
                let (decompressTimes, loadTimes) =
                    pass == 0
                    ? (\RoundTimes.decompress, \RoundTimes.load)
                    : (\RoundTimes.decompressRandom, \RoundTimes.loadRandom)
                if pass == 1 {
                    for i in 0..<n where stored[i] {
                        _ = try? zcache.frontswapStore(
                            type: 0, offset: UInt64(i + 1), page: shared.inputPage(i))
                    }
                }
                output.initializeMemory(as: UInt8.self, repeating: 0xA5)
                times[keyPath: decompressTimes].append(
                    parallel(threads: threads, pages: n) { range in
                        for k in range where shared.sizes[order.value[k]] > 0 {
                            let i = order.value[k]
                            let src = UnsafeRawBufferPointer(
                                rebasing: shared.compressed[i * slot..<i * slot + shared.sizes[i]])
                            shared.results[i] =
                                (try? codec.decompress(src, into: shared.outputPage(i))) == nil
                                ? 0 : 1
                        }
                    })
                for i in 0..<n where sizes[i] > 0 {
                    if results[i] == 0
                        || !PageContentSource.samePage(
                            shared.inputPage(i), UnsafeRawBufferPointer(shared.outputPage(i)))
                    {
                        rawMismatches += 1
                    }
                }
                output.initializeMemory(as: UInt8.self, repeating: 0xA5)
                times[keyPath: loadTimes].append(
                    parallel(threads: threads, pages: n) { range in
                        for k in range where flags.value[order.value[k]] {
                            let i = order.value[k]
                            let found = try? zcache.frontswapLoad(
                                type: 0, offset: UInt64(i + 1), into: shared.outputPage(i))
                            shared.results[i] = found == true ? 1 : 0
                        }
                    })
                var verified = 0
                for i in 0..<n where stored[i] {
                    if results[i] == 1,
                        PageContentSource.samePage(
                            shared.inputPage(i), UnsafeRawBufferPointer(shared.outputPage(i)))
                    {
                        verified += 1
                    } else {
                        report.mismatchedPages += 1
                    }
                }
                report.verifiedPages = verified
            }
        }
        let compressedCount = sizes.filter { $0 > 0 }.count
        let compressedBytes = sizes.reduce(0, +)
        report.rawCompressionRatio =
            compressedBytes == 0 ? 0 : Double(compressedCount * pageSize) / Double(compressedBytes)
        report.rawCompressPagesPerSec = times.medianRate(\.compress, pages: n)
        report.rawDecompressPagesPerSec = times.medianRate(\.decompress, pages: compressedCount)
        report.mismatchedPages += rawMismatches
        report.storePagesPerSec = times.medianRate(\.store, pages: n)
        report.loadPagesPerSec = times.medianRate(\.load, pages: report.storedPages)
        report.storeVsRaw = times.medianRatio(
            \.store, pages: n, against: \.compress, pages: n)
        report.loadVsRaw = times.medianRatio(
            \.load, pages: report.storedPages, against: \.decompress, pages: compressedCount)
        report.rawDecompressRandomOrderPagesPerSec = times.medianRate(
            \.decompressRandom, pages: compressedCount)
        report.loadRandomOrderPagesPerSec = times.medianRate(
            \.loadRandom, pages: report.storedPages)
        report.loadVsRawRandomOrder = times.medianRatio(
            \.loadRandom, pages: report.storedPages, against: \.decompressRandom,
            pages: compressedCount)
        let storedFlags = UnsafeBufferPointer(stored)

        // 3. Density against the offline optimum on the same accepted sizes
        // (pages zcache stored in the allocator, i.e. not same-filled).
        var chunks: [Int] = []
        var bytesStored = 0
        for i in 0..<n where storedFlags[i] && inAllocator[i] {
            if let c = ZBud.chunks(forDataSize: sizes[i]) { chunks.append(c) }
            bytesStored += sizes[i]
        }
        report.optimalPageframes =
            allocator == .zbud
            ? optimalPairFrames(chunks: chunks) : (bytesStored + pageSize - 1) / pageSize
        report.densityVsOptimal =
            report.pageframes == 0
            ? 1 : Double(report.optimalPageframes) / Double(report.pageframes)
        report.pagesPerFrame =
            report.pageframes == 0 ? 0 : Double(chunks.count) / Double(report.pageframes)

        // 4. Density against what a user would write instead, with this codec
        // and with zstd.
        for codec in [kind] + (kind == .zstd ? [] : [.zstd]) {
            var densityConfiguration = configuration
            densityConfiguration.compressor = codec
            report.density.append(
                try DensityBenchmark.run(
                    pages: bytes, configuration: densityConfiguration,
                    dictionaryBytes: dictionaryCosts[codec]))
        }
        report.densityVsDictionary = report.density[0].densityVsDictionary
        report.densityVsLimit = report.density[0].densityVsLimit
        return report
    }

    /// The fewest frames holding buds of `chunks` sizes at most two per frame
    /// with at most `ZBud.chunksPerFrame` chunks per frame: pair the largest
    /// remaining with the smallest when they fit (optimal for two per bin).
    public static func optimalPairFrames(chunks: [Int]) -> Int {
        let sorted = chunks.sorted()
        var lo = 0
        var hi = sorted.count - 1
        var frames = 0
        while lo <= hi {
            if lo < hi, sorted[lo] + sorted[hi] <= ZBud.chunksPerFrame { lo += 1 }
            hi -= 1
            frames += 1
        }
        return frames
    }

    /// Each round's time (seconds) of each timed phase.
    ///
    /// Rates are the median round's; a ratio is the median of the rounds'
    /// ratios, each taken between two phases of one round, run back to back.
    /// On a shared machine the speed drifts between rounds: the best time of
    /// each side, taken in different rounds, let one lucky round swing a
    /// ratio by 0.2, where the median round's ratio moves by a few hundredths.
    struct RoundTimes {
        var compress: [Double] = []
        var decompress: [Double] = []
        var store: [Double] = []
        var load: [Double] = []
        var decompressRandom: [Double] = []
        var loadRandom: [Double] = []

        static func median(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return 0 }
            let middle = sorted.count / 2
            return sorted.count % 2 == 1
                ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }

        /// Pages per second of the median round of `phase`.
        func medianRate(_ phase: KeyPath<RoundTimes, [Double]>, pages: Int) -> Double {
            Double(pages) / max(Self.median(self[keyPath: phase]), 1e-9)
        }

        /// The median over rounds of `phase`'s rate over `baseline`'s rate.
        func medianRatio(
            _ phase: KeyPath<RoundTimes, [Double]>, pages: Int,
            against baseline: KeyPath<RoundTimes, [Double]>, pages baselinePages: Int
        ) -> Double {
            let ratios = zip(self[keyPath: phase], self[keyPath: baseline]).map { time, base in
                (Double(pages) / max(time, 1e-9)) / (Double(baselinePages) / max(base, 1e-9))
            }
            return Self.median(ratios)
        }
    }

    /// Runs `body` on `threads` threads over contiguous slices of `0..<pages`;
    /// returns the seconds from releasing them to the last one finishing.
    static func parallel(
        threads: Int, pages: Int, _ body: @escaping @Sendable (Range<Int>) -> Void
    ) -> Double {
        if threads == 1 {
            let start = monotonicNanoseconds()
            body(0..<pages)
            return Double(monotonicNanoseconds() - start) / 1e9
        }
        let ready = DispatchSemaphore(value: 0)
        let go = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for t in 0..<threads {
            let range = (pages * t / threads)..<(pages * (t + 1) / threads)
            done.enter()
            let thread = Thread {
                ready.signal()
                go.wait()
                body(range)
                done.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<threads { ready.wait() }
        let start = monotonicNanoseconds()
        for _ in 0..<threads { go.signal() }
        done.wait()
        return Double(monotonicNanoseconds() - start) / 1e9
    }
}

/// Hands an immutable buffer to worker threads.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension ZCacheBenchmark {
    /// A readable table of a report.
    public static func table(_ r: BenchReport, corpus: [String]) -> String {
        func rate(_ x: Double) -> String { String(format: "%.0f pages/s", x) }
        let rows: [(String, String)] = [
            ("corpus", corpus.joined(separator: " ")),
            ("pages (zero)", "\(r.pages) (\(r.zeroPages))"),
            ("compressor, allocator, threads", "\(r.compressor), \(r.allocator), \(r.threads)"),
            ("bare compress", rate(r.rawCompressPagesPerSec)),
            (
                "zcache store",
                rate(r.storePagesPerSec) + String(format: "  (%.3f of bare)", r.storeVsRaw)
            ),
            ("bare decompress", rate(r.rawDecompressPagesPerSec)),
            (
                "zcache load",
                rate(r.loadPagesPerSec) + String(format: "  (%.3f of bare)", r.loadVsRaw)
            ),
            ("bare decompress, random order", rate(r.rawDecompressRandomOrderPagesPerSec)),
            (
                "zcache load, random order",
                rate(r.loadRandomOrderPagesPerSec)
                    + String(format: "  (%.3f of bare)", r.loadVsRawRandomOrder)
            ),
            ("stored / rejected", "\(r.storedPages) / \(r.rejectedPages)"),
            ("pageframes (optimal)", "\(r.pageframes) (\(r.optimalPageframes))"),
            ("density vs optimal", String(format: "%.3f", r.densityVsOptimal)),
            ("pages per frame", String(format: "%.3f", r.pagesPerFrame)),
            ("same-filled pages", "\(r.sameFilledPages)"),
            ("frames in use", "\(r.framesInUse)"),
            ("pool utilization", String(format: "%.3f", r.poolUtilization)),
            (
                "metadata bytes per page",
                String(
                    format: "%.1f (tmem %.1f, allocators %.1f, zcache %.1f)",
                    r.metadataBytesPerPage, r.metadataTMemPerPage, r.metadataAllocatorsPerPage,
                    r.metadataZCachePerPage)
            ),
            ("bare compression ratio", String(format: "%.2fx", r.rawCompressionRatio)),
            ("verified / mismatched", "\(r.verifiedPages) / \(r.mismatchedPages)"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n") + "\n\ndensity\n" + DensityBenchmark.table(r.density)
    }
}
