// Microbenchmark of swap-in from zcache, run by `zcache-sim microbench swapin`.
//
// The same pages, one thread, in one run: (a) bare LZ4 decompression of each
// page (compressed beforehand) into its own output page; (b) `ZCache.swapIn`
// of each page, swapped out into zcache beforehand (untimed), into its own
// output page: swap-cache lookup, has-cache bit, exclusive frontswap load
// (decompression and freeing the object), and the end of the entry; (c) the
// frontswap load alone (`frontswapLoad` of the same offsets, also swapped
// out beforehand), so (b) against (c) is what the swap-cache protocol adds
// to the load. Only pages zcache stores are used, so every load is a zcache
// hit; the outputs of each side are checked against the pages after timing.
// Each round runs (a), (b), (c) back to back on fresh caches; a ratio is the
// median of the rounds' own ratios (as `zcache-sim bench` pairs its phases),
// steadier on a shared machine than a ratio of medians taken from different
// rounds.

import Foundation
import SwapDevice
import ZCache
import ZCacheSupport

/// Swap-in from zcache against bare LZ4 decompression of the same pages.
public enum SwapInMicrobenchmark {
    public enum BenchmarkError: Error, CustomStringConvertible {
        case noPages
        case wrongData(String)
        case notFromZCache(Int)

        public var description: String {
            switch self {
            case .noPages: "no benchmark pages that zcache stores (give --corpus files)"
            case .wrongData(let side): "\(side) produced a page that differs from the original"
            case .notFromZCache(let count): "\(count) swap-ins did not come from zcache"
            }
        }
    }

    static let pageCount = 8192
    static let rounds = 7

    public static func run(
        corpus: [String], allocator: ZCacheAllocatorKind = ZCacheConfiguration().allocator
    ) throws -> String {
        let source =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let available = source.count / pageSize
        guard available > 0 else { throw BenchmarkError.noPages }

        // Pages zcache stores: not zero-filled (no decompression at all), and
        // compressed small enough for the persistent put policy.
        let compressor = Compressor(.lz4)
        var pages: [PageBuffer] = []
        var compressed: [[UInt8]] = []
        var scratch = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        var index = 0
        while pages.count < pageCount && index < available * 2 {
            let start = (index % available) * pageSize
            index += 1
            let page = PageBuffer(zeroFilled: false)
            source.withUnsafeBytes {
                page.bytes.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: $0[start..<(start + pageSize)]))
            }
            guard page.bytes.contains(where: { $0 != 0 }) else { continue }
            let size = scratch.withUnsafeMutableBytes {
                compressor.compress(
                    UnsafeRawBufferPointer(page.bytes), into: $0,
                    bound: ZCache.maxMeanPersistentZSize)
            }
            guard let size else { continue }
            pages.append(page)
            compressed.append(Array(scratch[..<size]))
        }
        guard !pages.isEmpty else { throw BenchmarkError.noPages }
        let outputs = pages.map { _ in PageBuffer(zeroFilled: true) }

        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("zcache-swapin-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        func check(_ side: String) throws {
            for (page, output) in zip(pages, outputs)
            where !UnsafeRawBufferPointer(page.bytes).elementsEqual(output.bytes) {
                throw BenchmarkError.wrongData(side)
            }
            for output in outputs { output.bytes.initializeMemory(as: UInt8.self, repeating: 0) }
        }

        /// A fresh cache with every page swapped out into it (untimed).
        func swappedOutCache(_ name: String) throws -> (ZCache, SwapDevice, [SwapEntry], String) {
            var configuration = ZCacheConfiguration()
            configuration.pageframes = pages.count + 64
            configuration.compressor = .lz4
            configuration.allocator = allocator
            let cache = ZCache(configuration: configuration)
            let path = directory + "/\(name).swap"
            let device = try SwapDevice.create(path: path, pages: pages.count + 1)
            try cache.attachSwapDevice(device)
            let entries = try pages.map {
                try cache.swapOut(page: UnsafeRawBufferPointer($0.bytes), type: 0)
            }
            return (cache, device, entries, path)
        }

        var bare: [Double] = []
        var swapIn: [Double] = []
        var load: [Double] = []
        for round in 0..<rounds {
            // (a) Bare LZ4 decompression.
            var start = monotonicNanoseconds()
            for (data, output) in zip(compressed, outputs) {
                try data.withUnsafeBytes { try compressor.decompress($0, into: output.bytes) }
            }
            bare.append(Double(monotonicNanoseconds() - start) / 1e9)
            try check("bare decompression")

            // (b) Swap-in of the same pages from zcache.
            var (cache, device, entries, path) = try swappedOutCache("swapin-\(round)")
            var notFromZCache = 0
            start = monotonicNanoseconds()
            for (entry, output) in zip(entries, outputs) {
                if try cache.swapIn(entry, into: output.bytes) != .zcache { notFromZCache += 1 }
            }
            swapIn.append(Double(monotonicNanoseconds() - start) / 1e9)
            guard notFromZCache == 0 else { throw BenchmarkError.notFromZCache(notFromZCache) }
            try check("swapIn")
            device.close()
            unlink(path)

            // (c) The frontswap load alone, of the same pages.
            (cache, device, entries, path) = try swappedOutCache("load-\(round)")
            start = monotonicNanoseconds()
            for (entry, output) in zip(entries, outputs)
            where try !cache.frontswapLoad(type: 0, offset: entry.offset, into: output.bytes) {
                notFromZCache += 1
            }
            load.append(Double(monotonicNanoseconds() - start) / 1e9)
            guard notFromZCache == 0 else { throw BenchmarkError.notFromZCache(notFromZCache) }
            try check("frontswapLoad")
            device.close()
            unlink(path)
        }

        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let count = Double(pages.count)
        /// Microseconds per page of a side, in its median round.
        func perPage(_ seconds: [Double]) -> Double { median(seconds) * 1e6 / count }
        // A side's speed against another's: time against time, per round.
        let swapInVsBare = median(zip(bare, swapIn).map { $0 / $1 })
        let loadVsBare = median(zip(bare, load).map { $0 / $1 })
        let swapInVsLoad = median(zip(load, swapIn).map { $0 / $1 })
        var lines = [
            "swap-in microbenchmark (\(allocator)): \(pages.count) pages zcache stores, LZ4, "
                + "one thread, \(rounds) rounds",
            "round  bare decompress p/s  swapIn p/s  frontswapLoad p/s",
        ]
        for round in 0..<rounds {
            lines.append(
                String(
                    format: "%5d  %19.0f  %10.0f  %17.0f", round, count / bare[round],
                    count / swapIn[round], count / load[round]))
        }
        lines.append(
            String(
                format: "median round: bare %.2f us/page, swapIn %.2f us/page, "
                    + "frontswapLoad %.2f us/page",
                perPage(bare), perPage(swapIn), perPage(load)))
        lines.append(
            String(
                format: "median of the rounds' ratios: load / bare %.3f, "
                    + "swapIn / load %.3f, swapIn / bare: ratio %.3f",
                loadVsBare, swapInVsLoad, swapInVsBare))
        return lines.joined(separator: "\n")
    }
}
