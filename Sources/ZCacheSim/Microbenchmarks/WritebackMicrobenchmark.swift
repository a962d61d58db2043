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
// The pages are those zcache stores in a frame, so every one is written back.
// Each round also times (c) bare LZ4 decompression of the same pages on one
// thread, and (b) reports the pass thread's own CPU time. Two limits follow,
// each given as the ratio of (b) to (a) it allows, before any cost of
// zcache's own:
//
//   - the pass: one thread decompresses every page, so (b) takes at least
//     (c)'s time per page: a bound for this design on any machine;
//   - the cores: writeback also writes what (a) writes; if its writes cost
//     the CPU (a)'s did (a page-cache file costs CPU, and with more than one
//     I/O worker (a)'s spend some of it contending on the file's lock), (b) needs at
//     least (a's CPU + c) / cores of wall time per page: an estimate.

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
        // Pages zcache stores in a frame, so that every page of (a) is written
        // back in (b): not one repeated word (zero and same-filled pages take
        // no frame), and compressed small enough for the persistent put
        // policy. Their compressed form is (c)'s input.
        let compressor = Compressor(ZCacheConfiguration().compressor)
        var pages: [PageBuffer] = []
        var compressed: [[UInt8]] = []
        var scratch = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        var index = 0
        while pages.count < pageCount && index < available * 2 {
            let start = (index % available) * pageSize
            index += 1
            let page = source.withUnsafeBytes {
                UnsafeRawBufferPointer(rebasing: $0[start..<(start + pageSize)])
            }
            let words = page.bindMemory(to: UInt64.self)
            guard words.contains(where: { $0 != words[0] }) else { continue }
            let size = scratch.withUnsafeMutableBytes {
                compressor.compress(page, into: $0, bound: ZCache.maxMeanPersistentZSize)
            }
            guard let size else { continue }
            let buffer = PageBuffer(zeroFilled: false)
            buffer.bytes.copyMemory(from: page)
            pages.append(buffer)
            compressed.append(Array(scratch[..<size]))
        }
        guard !pages.isEmpty else { throw SwapDeviceMicrobenchmark.BenchmarkError.noPages }
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
            for data in compressed {
                try data.withUnsafeBytes { try compressor.decompress($0, into: decompressed.bytes) }
            }
            decompression.append(Double(monotonicNanoseconds() - decompressStart) / 1e9)

            // (a) Bare device writes.
            let device = try SwapDevice.createTemporary(in: directory, pages: pages.count + 1)
            let startCPU = CPUTime.process()
            let start = monotonicNanoseconds()
            for (slot, page) in pages.enumerated() {
                guard let entry = SwapEntry(type: 0, offset: UInt64(slot + 1)) else { continue }
                device.submitWrite(page, at: entry) { _ in }
            }
            device.drain()
            bare.append(Double(monotonicNanoseconds() - start) / 1e9)
            bareCPU.append(CPUTime.process() - startCPU)
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
            let startedCPU = CPUTime.process()
            let startedPassCPU = CPUTime.thread()
            let started = monotonicNanoseconds()
            while cache.statistics.zcache.persPageframes > 0 {
                // At the cap: sleep until completions make room for a frame.
                if cache.writeback(pageframes: Int.max) == 0 { cache.waitForWritebackRoom() }
            }
            cache.waitForWriteback()
            writeback.append(Double(monotonicNanoseconds() - started) / 1e9)
            writebackCPU.append(CPUTime.process() - startedCPU)
            passCPU.append(CPUTime.thread() - startedPassCPU)
            let stats = cache.statistics.zcache
            written = stats.writtenbackPages - before
            peak = max(peak, stats.outstandingWritebackPagesMax)
            swap.close()
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let barePagesPerSecond = Double(pages.count) / median(bare)
        let writebackPagesPerSecond = Double(written) / median(writeback)
        // Seconds per round to microseconds per page.
        let toMicrosecondsPerPage = 1e6 / Double(pages.count)
        let bareCPUPerPage = median(bareCPU) * toMicrosecondsPerPage
        let decompressionPerPage = median(decompression) * toMicrosecondsPerPage
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let bareWallPerPage = 1e6 / barePagesPerSecond
        let sharedCoresPerPage = (bareCPUPerPage + decompressionPerPage) / cores
        var lines = [
            "writeback microbenchmark (\(allocator)): \(pages.count) pages zcache stores in a frame, \(rounds) alternating rounds",
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
                bareCPUPerPage, bareWallPerPage,
                median(writebackCPU) * 1e6 / Double(max(written, 1)), 1e6 / writebackPagesPerSecond)
        )
        lines.append(
            String(
                format:
                    "pass thread CPU %.2f us/page; bare decompression of the same pages, one thread, %.2f us/page",
                median(passCPU) * 1e6 / Double(max(written, 1)), decompressionPerPage))
        lines.append(
            String(
                format:
                    "limits on the ratio: the pass (decompression alone, one thread) %.3f; "
                    + "%d cores at the bare side's write cost (estimate) %.3f",
                bareWallPerPage / decompressionPerPage, Int(cores),
                bareWallPerPage / max(decompressionPerPage, sharedCoresPerPage)))
        return lines.joined(separator: "\n")
    }
}
