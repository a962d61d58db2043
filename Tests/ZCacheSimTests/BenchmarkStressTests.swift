import XCTest
import ZCache
import ZCacheSupport

@testable import ZCacheSim

/// `zcache-sim bench` on generated pages, split over threads (CI runs this
/// class under the thread sanitizer).
final class BenchmarkStressTests: XCTestCase {
    func testBenchOnGeneratedPagesOverThreads() throws {
        let source = PageContentSource.generator(seed: 21)
        let n = 1500
        var bytes = [UInt8](repeating: 0, count: n * pageSize)
        bytes.withUnsafeMutableBytes { all in
            for p in 0..<n {
                source.fill(
                    PageKey(owner: 9, page: UInt32(p), version: 1),
                    into: UnsafeMutableRawBufferPointer(
                        rebasing: all[p * pageSize..<(p + 1) * pageSize]))
            }
        }
        for threads in [1, 3] {
            let r = try ZCacheBenchmark.run(
                pages: bytes, compressor: .lz4, threads: threads, rounds: 2)
            XCTAssertEqual(r.pages, n)
            XCTAssertEqual(r.threads, threads)
            XCTAssertEqual(r.mismatchedPages, 0)
            XCTAssertEqual(r.verifiedPages, r.storedPages)
            XCTAssertEqual(r.storedPages + r.rejectedPages, n)
            XCTAssertGreaterThan(r.zeroPages, 0)
            XCTAssertGreaterThan(r.rejectedPages, 0)  // the random pages
            // zcache can do no better than the offline optimum.
            XCTAssertLessThanOrEqual(r.optimalPageframes, r.pageframes)
            XCTAssertGreaterThan(r.densityVsOptimal, 0.5)
            XCTAssertGreaterThan(r.rawCompressPagesPerSec, 0)
            XCTAssertGreaterThan(r.loadPagesPerSec, 0)
            // The random-order pass verified the same pages (mismatches above
            // count both passes).
            XCTAssertGreaterThan(r.rawDecompressRandomOrderPagesPerSec, 0)
            XCTAssertGreaterThan(r.loadRandomOrderPagesPerSec, 0)
            XCTAssertGreaterThan(r.loadVsRawRandomOrder, 0)
        }
    }

    /// A ratio is the median of the rounds' own ratios, not the ratio of
    /// each side's best round; a rate is the median round's.
    func testRoundTimesPairTheRounds() {
        var times = ZCacheBenchmark.RoundTimes()
        // The second round was fast for the bare side only, the third for zcache only.
        times.decompress = [2.0, 1.0, 2.0, 2.0, 4.0]
        times.load = [2.5, 2.0, 1.0, 2.5, 5.0]
        // The rounds' ratios (zcache's rate over bare's, 100 pages each):
        // 0.8, 0.5, 2.0, 0.8, 0.8 -> median 0.8.
        XCTAssertEqual(
            times.medianRatio(\.load, pages: 100, against: \.decompress, pages: 100), 0.8,
            accuracy: 1e-12)
        // Best times would have said 1.0 / 1.0 = 1.0.
        XCTAssertEqual(times.medianRate(\.decompress, pages: 100), 50, accuracy: 1e-12)
        XCTAssertEqual(times.medianRate(\.load, pages: 100), 40, accuracy: 1e-12)
        // Even counts take the mean of the middle two; pages scale the rates.
        times.compress = [1.0, 3.0, 2.0, 4.0]
        XCTAssertEqual(times.medianRate(\.compress, pages: 10), 4, accuracy: 1e-12)
        XCTAssertEqual(ZCacheBenchmark.RoundTimes.median([]), 0)
    }
}
