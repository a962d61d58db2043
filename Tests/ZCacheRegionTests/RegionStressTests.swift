// The concurrent half of issue 17's model test: four threads, one million
// random reads and writes in all, over a region eight times its resident
// limit. The threads share every page but never a word, so each checks its
// reads against its own model while their faults, write-protect faults and
// the reclaimer's drops of the same pages interleave; writeback runs along
// the way. The project's thread-sanitizer pass runs it (`--filter Stress`).

import Foundation
import XCTest
import ZCache
import ZCacheRegion
import ZCacheSupport

final class RegionStressTests: XCTestCase {
    func testFourThreadsOneMillionAccesses() throws {
        let pages = 256
        let limit = 32
        let threads = 4
        let accessesPerThread = 250_000
        let cache = try makeCache(self, slots: pages) { $0.exclusiveGets = false }
        let region = try makeRegion(pages: pages, residentLimit: limit, cache: cache)
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var workload = ModelWorkload(
                region: region, thread: thread, threads: threads, seed: 1000 + UInt64(thread))
            for _ in 0..<10 {
                workload.run(accesses: accessesPerThread / 10)
                if thread == 0 { cache.writeback(pageframes: 4) }
            }
            results.add(
                reads: workload.reads, wrong: workload.wrongValues + workload.verifyAll())
        }
        XCTAssertEqual(results.wrong, 0)
        XCTAssertGreaterThan(results.reads, accessesPerThread * threads / 3)
        region.waitUntilIdle()
        XCTAssertLessThanOrEqual(kernelResidentPages(region), limit)
        let statistics = region.statistics
        XCTAssertLessThanOrEqual(statistics.residentPagesMax, limit)
        XCTAssertEqual(statistics.lostPages, 0)
        XCTAssertNil(statistics.lastError)
        XCTAssertGreaterThan(statistics.zcacheFaults, 0)
        print(
            "region stress: \(threads) threads, \(results.reads) checked reads, 0 wrong; "
                + "faults zcache \(statistics.zcacheFaults) write-protect "
                + "\(statistics.writeProtectFaults) spurious \(statistics.spuriousFaults)")
        region.close()
    }
}

private final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var readCount = 0
    private var wrongCount = 0

    func add(reads: Int, wrong: Int) {
        lock.lock()
        readCount += reads
        wrongCount += wrong
        lock.unlock()
    }

    var reads: Int { lock.lock(); defer { lock.unlock() }; return readCount }
    var wrong: Int { lock.lock(); defer { lock.unlock() }; return wrongCount }
}
