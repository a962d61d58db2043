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
        }
    }
}
