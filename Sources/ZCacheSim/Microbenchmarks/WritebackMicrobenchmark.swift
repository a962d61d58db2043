// Microbenchmark of writeback, run by `zcache-sim microbench writeback`.
//
// The same pages, in one run: (a) bare device writes: each page submitted to a
// slot of a fresh swap file through the asynchronous path, then drained;
// (b) ZCache writeback: the pages swapped out into zcache (untimed), then every
// persistent pageframe written back (zombify or isolate the LRU entries,
// decompress into the swap cache, submit, complete) and drained. Alternating rounds; the report gives each round
// and the ratio of the medians, (b) against (a), and for each side the process's
// CPU time (user + system, all threads) per page against its wall time: on a
// machine shared with other work, a side whose CPU time per page is close to
// its wall time per page times the cores it can get is CPU-bound.
//
// Each round also times (c) bare LZ4 decompression of the same pages on one
// thread, and (b) reports the pass thread's own CPU time. Writeback does (a)'s
// work plus (c)'s, so on a machine whose writes cost CPU (a page-cache file),
// no writeback can take less wall time per page than
//
//     max(c, (a's CPU + c) / cores)      (the pass decompresses on one thread;
//                                         everything shares the cores)
//
// and the report gives that bound as a ratio: what this machine allows (b)
// against (a) to reach, before any cost of zcache's own.

import Foundation
import SwapDevice
import ZCache
import ZCacheSupport

/// Writeback throughput against bare device writes of the same pages.
public enum WritebackMicrobenchmark {
    static let pageCount = 16384
    static let rounds = 5

    public static func run(corpus: [String], allocator: ZCacheAllocatorKind = .zbud) throws
        -> String
    {
        let source =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let available = source.count / pageSize
        guard available > 0 else { throw SwapDeviceMicrobenchmark.BenchmarkError.noPages }
        // Non-zero pages only: zero-filled ones take no frame and are never written back.
        var pages: [PageBuffer] = []
        var index = 0
        while pages.count < pageCount && index < available * 2 {
            let start = (index % available) * pageSize
            index += 1
            let page = source.withUnsafeBytes {
                UnsafeRawBufferPointer(rebasing: $0[start..<(start + pageSize)])
            }
            guard page.contains(where: { $0 != 0 }) else { continue }
            let buffer = PageBuffer()
            buffer.bytes.copyMemory(from: page)
            pages.append(buffer)
        }
        guard !pages.isEmpty else { throw SwapDeviceMicrobenchmark.BenchmarkError.noPages }
        // (c)'s input: each page as the cache's codec compresses it (a page
        // that does not compress is stored whole, and written back by a copy).
        let compressor = Compressor(ZCacheConfiguration().compressor)
        let compressed = pages.map { page -> [UInt8]? in
            var output = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
            let size = output.withUnsafeMutableBytes {
                compressor.compress(UnsafeRawBufferPointer(page.bytes), into: $0, bound: pageSize)
            }
            return size.map { Array(output[..<$0]) }
        }
        let decompressed = PageBuffer(zeroFilled: false)

        // Swap files unnamed as soon as they are open: nothing is left behind.
        let directory = FileManager.default.temporaryDirectory.path

        var bare: [Double] = []
        var writeback: [Double] = []
        var bareCPU: [Double] = []
        var writebackCPU: [Double] = []
        var passCPU: [Double] = []
        var decompression: [Double] = []
        var written = 0
        var peak = 0
        for _ in 0..<rounds {
            // (c) Bare decompression of the same pages, one thread.
            let decompressStart = monotonicNanoseconds()
            for (page, data) in zip(pages, compressed) {
                if let data {
                    try data.withUnsafeBytes { try compressor.decompress($0, into: decompressed.bytes) }
                } else {
                    decompressed.bytes.copyMemory(from: UnsafeRawBufferPointer(page.bytes))
                }
            }
            decompression.append(Double(monotonicNanoseconds() - decompressStart) / 1e9)

            // (a) Bare device writes.
            let device = try SwapDevice.createTemporary(in: directory, pages: pages.count + 1)
            let startCPU = processCPUSeconds()
            let start = monotonicNanoseconds()
            for (slot, page) in pages.enumerated() {
                guard let entry = SwapEntry(type: 0, offset: UInt64(slot + 1)) else { continue }
                device.submitWrite(page, at: entry) { _ in }
            }
            device.drain()
            bare.append(Double(monotonicNanoseconds() - start) / 1e9)
            bareCPU.append(processCPUSeconds() - startCPU)
            device.close()

            // (b) ZCache writeback of the same pages.
            var configuration = ZCacheConfiguration()
            configuration.pageframes = pages.count + 64
            configuration.allocator = allocator
            let cache = ZCache(configuration: configuration)
            let swap = try SwapDevice.createTemporary(in: directory, pages: pages.count + 1)
            try cache.attachSwapDevice(swap)
            for page in pages {
                _ = try cache.swapOut(page: UnsafeRawBufferPointer(page.bytes), type: 0)
            }
            let before = cache.statistics.zcache.writtenbackPages
            let startedCPU = processCPUSeconds()
            let startedPassCPU = threadCPUSeconds()
            let started = monotonicNanoseconds()
            while cache.statistics.zcache.persPageframes > 0 {
                // At the cap: sleep until completions make room for a frame.
                if cache.writeback(pageframes: Int.max) == 0 { cache.waitForWritebackRoom() }
            }
            cache.waitForWriteback()
            writeback.append(Double(monotonicNanoseconds() - started) / 1e9)
            writebackCPU.append(processCPUSeconds() - startedCPU)
            passCPU.append(threadCPUSeconds() - startedPassCPU)
            let stats = cache.statistics.zcache
            written = stats.writtenbackPages - before
            peak = max(peak, stats.outstandingWritebackPagesMax)
            swap.close()
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let barePagesPerSecond = Double(pages.count) / median(bare)
        let writebackPagesPerSecond = Double(written) / median(writeback)
        let microsecondsPerPage = 1e6 / Double(pages.count)
        let bareCPUPerPage = median(bareCPU) * microsecondsPerPage
        let decompressionPerPage = median(decompression) * microsecondsPerPage
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let floorPerPage = max(decompressionPerPage, (bareCPUPerPage + decompressionPerPage) / cores)
        var lines = [
            "writeback microbenchmark (\(allocator)): \(pages.count) non-zero pages, \(rounds) alternating rounds",
            "round  bare writes p/s  cpu us/page  writeback p/s  cpu us/page",
        ]
        for round in 0..<rounds {
            lines.append(
                String(
                    format: "%5d  %15.0f  %11.2f  %13.0f  %11.2f", round,
                    Double(pages.count) / bare[round], bareCPU[round] * 1e6 / Double(pages.count),
                    Double(written) / writeback[round],
                    writebackCPU[round] * 1e6 / Double(max(written, 1))))
        }
        lines.append(
            String(
                format:
                    "median: bare %.0f p/s, writeback %.0f p/s (%d pages written back), ratio %.3f; peak outstanding %d",
                barePagesPerSecond, writebackPagesPerSecond, written,
                writebackPagesPerSecond / barePagesPerSecond, peak))
        lines.append(
            String(
                format:
                    "median CPU (user+sys, all threads): bare %.2f us/page over %.2f us/page of wall time, writeback %.2f over %.2f",
                median(bareCPU) * 1e6 / Double(pages.count), 1e6 / barePagesPerSecond,
                median(writebackCPU) * 1e6 / Double(max(written, 1)), 1e6 / writebackPagesPerSecond))
        lines.append(
            String(
                format:
                    "pass thread CPU %.2f us/page; bare decompression of the same pages %.2f us/page; "
                    + "this machine's bound on %d cores: writeback >= %.2f us/page, ratio <= %.3f",
                median(passCPU) * 1e6 / Double(max(written, 1)), decompressionPerPage, Int(cores),
                floorPerPage, (1e6 / barePagesPerSecond) / floorPerPage))
        return lines.joined(separator: "\n")
    }

    /// CPU time of the calling thread so far, in seconds.
    static func threadCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// User plus system CPU time of the whole process so far, in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double {
            Double(time.tv_sec) + Double(time.tv_usec) / 1e6
        }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
