// Microbenchmark of the remote tier, run by `zcache-sim microbench remote
// --remote redis://HOST:PORT`.
//
// The same pages, in one run, alternating rounds:
//   (a) writeback to the swap file: the pages swapped out into zcache
//       (untimed), then every persistent pageframe written back and drained;
//   (b) writeback to the remote tier: the same, with a cache whose writeback
//       target is the remote store (pages leave compressed, in pipelined batches).
// Then, from each round's cache, every page swapped in (in a shuffled order),
// each swap-in timed: from the swap file in (a), from the remote tier in (b).
// The report gives each round, the medians' ratio (b) / (a) and the swap-in
// latency percentiles of both.

import Foundation
import SwapDevice
import ZCache
import ZCacheSupport

/// Remote-tier writeback and swap-in against the swap file's, same pages.
public enum RemoteMicrobenchmark {
    static let rounds = 3

    /// `makeStore(round)` gives each round's remote store (a fresh namespace).
    public static func run(
        corpus: [String], pageCount: Int = 8192, batchPages: Int = 256,
        allocator: ZCacheAllocatorKind = .zbud, makeStore: (Int) throws -> any RemotePageStore
    ) throws -> String {
        let source =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let available = source.count / pageSize
        guard available > 0 else { throw SwapDeviceMicrobenchmark.BenchmarkError.noPages }
        // Non-zero pages only: zero-filled ones take no frame and are never written back.
        var pages: [[UInt8]] = []
        var index = 0
        while pages.count < pageCount && index < available * 4 {
            let start = (index % available) * pageSize
            index += 1
            let page = Array(source[start..<(start + pageSize)])
            guard page.contains(where: { $0 != 0 }) else { continue }
            pages.append(page)
        }
        guard !pages.isEmpty else { throw SwapDeviceMicrobenchmark.BenchmarkError.noPages }
        let directory = FileManager.default.temporaryDirectory.path

        var fileSeconds: [Double] = []
        var remoteSeconds: [Double] = []
        var fileWritten: [Int] = []
        var remoteWritten: [Int] = []
        var fileSwapIns: [UInt64] = []
        var remoteSwapIns: [UInt64] = []
        var remoteStatistics = RemoteTierStatistics()
        for round in 0..<rounds {
            for remote in [false, true] {
                var configuration = ZCacheConfiguration()
                configuration.pageframes = pages.count + 64
                configuration.allocator = allocator
                let writeback =
                    remote
                    ? RemoteWriteback(store: try makeStore(round), batchPages: batchPages) : nil
                let cache = ZCache(configuration: configuration, remote: writeback)
                let swap = try SwapDevice.createTemporary(in: directory, pages: pages.count + 1)
                defer { swap.close() }
                try cache.attachSwapDevice(swap)
                var entries: [(SwapEntry, Int)] = []
                for (i, page) in pages.enumerated() {
                    let entry = try page.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) }
                    entries.append((entry, i))
                }
                let started = monotonicNanoseconds()
                var written = 0
                var idle = 0
                while cache.statistics.zcache.persPageframes > 0, idle < 3 {
                    let pass = cache.writeback(pageframes: Int.max)
                    written += pass
                    // At the cap: sleep until completions make room; a remote
                    // pass that wrote nothing three times is a failing store.
                    if pass == 0 {
                        if remote { idle += 1 } else { cache.waitForWritebackRoom() }
                    }
                }
                cache.waitForWriteback()
                let seconds = Double(monotonicNanoseconds() - started) / 1e9
                if remote {
                    remoteSeconds.append(seconds)
                    remoteWritten.append(written)
                } else {
                    fileSeconds.append(seconds)
                    fileWritten.append(written)
                }
                // Swap every page in, shuffled, timing each; check each page.
                var rng = SplitMix64(seed: UInt64(round))
                for i in stride(from: entries.count - 1, to: 0, by: -1) {
                    entries.swapAt(i, Int(rng.next() % UInt64(i + 1)))
                }
                var buffer = [UInt8](repeating: 0, count: pageSize)
                for (entry, i) in entries {
                    let before = monotonicNanoseconds()
                    let from = try buffer.withUnsafeMutableBytes {
                        try cache.swapIn(entry, into: $0)
                    }
                    let took = monotonicNanoseconds() - before
                    guard buffer == pages[i] else { throw BenchmarkError.wrongPage(entry) }
                    switch from {
                    case .remote: remoteSwapIns.append(took)
                    case .device: fileSwapIns.append(took)
                    default: break
                    }
                }
                if remote { remoteStatistics = cache.statistics.remote }
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func percentile(_ values: [UInt64], _ p: Double) -> Double {
            guard !values.isEmpty else { return 0 }
            let sorted = values.sorted()
            return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
        }
        let filePerSecond = (0..<rounds).map { Double(fileWritten[$0]) / fileSeconds[$0] }
        let remotePerSecond = (0..<rounds).map { Double(remoteWritten[$0]) / remoteSeconds[$0] }
        var lines = [
            "remote tier microbenchmark (\(allocator)): \(pages.count) non-zero pages, "
                + "\(rounds) alternating rounds, remote batches of \(batchPages) pages",
            "round  swap-file writeback p/s  remote writeback p/s",
        ]
        for round in 0..<rounds {
            lines.append(
                String(
                    format: "%5d  %23.0f  %20.0f", round, filePerSecond[round],
                    remotePerSecond[round]))
        }
        let fileMedian = median(filePerSecond)
        let remoteMedian = median(remotePerSecond)
        lines.append(
            String(
                format: "median: swap file %.0f p/s, remote %.0f p/s, ratio remote/swap file %.3f",
                fileMedian, remoteMedian, remoteMedian / fileMedian))
        lines.append(
            String(
                format:
                    "swap-in latency: swap file p50 %.1f us p99 %.1f us (%d); remote tier p50 %.1f us p99 %.1f us (%d)",
                percentile(fileSwapIns, 0.5), percentile(fileSwapIns, 0.99), fileSwapIns.count,
                percentile(remoteSwapIns, 0.5), percentile(remoteSwapIns, 0.99),
                remoteSwapIns.count))
        lines.append(
            String(
                format:
                    "last remote round: %d puts, %.1f MiB, %d errors, round trip p50 %d us p99 %d us",
                remoteStatistics.remotePuts, Double(remoteStatistics.remoteBytes) / 1_048_576,
                remoteStatistics.remoteErrors, remoteStatistics.remoteRoundTripP50Microseconds,
                remoteStatistics.remoteRoundTripP99Microseconds))
        return lines.joined(separator: "\n")
    }

    enum BenchmarkError: Error, CustomStringConvertible {
        case wrongPage(SwapEntry)
        var description: String { "swap-in of \(self) gave another page" }
    }
}
