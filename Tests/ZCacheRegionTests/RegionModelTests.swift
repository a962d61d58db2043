// The model test of issue 17: one million random reads and writes over a
// region eight times its resident limit, every read checked against a model
// of the region's contents, with writeback to the swap device along the way.
// The project's address-sanitizer pass runs it (`--filter Model`).

import XCTest
import ZCache
import ZCacheRegion
import ZCacheSupport

final class RegionModelTests: XCTestCase {
    private func runModel(exclusiveGets: Bool, accesses: Int, seed: UInt64) throws {
        let pages = 256
        let limit = 32
        let cache = try makeCache(self, slots: pages) { $0.exclusiveGets = exclusiveGets }
        let region = try makeRegion(pages: pages, residentLimit: limit, cache: cache)
        var workload = ModelWorkload(region: region, thread: 0, threads: 1, seed: seed)
        let rounds = 10
        for _ in 0..<rounds {
            workload.run(accesses: accesses / rounds)
            cache.writeback(pageframes: 8)
        }
        XCTAssertEqual(workload.wrongValues, 0)
        XCTAssertEqual(workload.verifyAll(), 0)
        region.waitUntilIdle()
        XCTAssertLessThanOrEqual(kernelResidentPages(region), limit)
        let statistics = region.statistics
        XCTAssertLessThanOrEqual(statistics.residentPagesMax, limit)
        XCTAssertEqual(statistics.lostPages, 0)
        XCTAssertEqual(statistics.limitOverruns, 0)
        XCTAssertNil(statistics.lastError)
        XCTAssertGreaterThan(statistics.zcacheFaults, 0)
        XCTAssertGreaterThan(statistics.deviceFaults + statistics.swapCacheFaults, 0)
        print(
            "region model (exclusive gets \(exclusiveGets)): \(workload.reads) reads, "
                + "\(workload.writes) writes, 0 wrong; faults zero \(statistics.zeroFaults) "
                + "zcache \(statistics.zcacheFaults) device \(statistics.deviceFaults) "
                + "swap cache \(statistics.swapCacheFaults) write-protect "
                + "\(statistics.writeProtectFaults); reclaimed \(statistics.reclaimedPages) "
                + "(clean \(statistics.cleanDrops)); zcache fault p50 "
                + "\(statistics.zcacheFaultService.p50Nanoseconds) ns")
        region.close()
        cache.waitForWriteback()
        XCTAssertEqual(cache.swapDevice(type: 0)?.slots.usedSlots, 0)
    }

    /// Pages keep their zcache copy while only read (clean tracking on).
    func testOneMillionAccessesNonExclusiveGets() throws {
        try runModel(exclusiveGets: false, accesses: 1_000_000, seed: 17)
    }

    /// The cache's default: a load takes the only copy.
    func testExclusiveGets() throws {
        try runModel(exclusiveGets: true, accesses: 200_000, seed: 18)
    }
}
