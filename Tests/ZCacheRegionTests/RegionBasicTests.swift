// The region's behaviour, one mechanism at a time: zero pages on first touch,
// reclaim to the resident limit (checked against the kernel's mincore), clean
// pages dropped without a store, writes to clean pages seen, pages written
// back to the swap device, stores the cache refuses, the typed errors, and
// every swap entry freed on close.

import Foundation
import XCTest
import ZCache
import ZCacheRegion
import ZCacheSupport

final class RegionBasicTests: XCTestCase {
    /// Writes a distinct compressible value to every word of pages `range`.
    private func fill(_ region: ZCacheRegion, pages range: Range<Int>, version: UInt64 = 0) {
        for page in range {
            for word in 0..<wordsPerPage {
                let value = UInt64(page) << 32 | UInt64(word % 7) | version << 8
                region.buffer.storeBytes(
                    of: value, toByteOffset: (page * wordsPerPage + word) * 8, as: UInt64.self)
            }
        }
    }

    /// Counts the words of pages `range` that differ from `fill`'s values.
    private func wrongWords(_ region: ZCacheRegion, pages range: Range<Int>, version: UInt64 = 0)
        -> Int
    {
        var wrong = 0
        for page in range {
            for word in 0..<wordsPerPage {
                let expected = UInt64(page) << 32 | UInt64(word % 7) | version << 8
                let value = region.buffer.load(
                    fromByteOffset: (page * wordsPerPage + word) * 8, as: UInt64.self)
                if value != expected { wrong += 1 }
            }
        }
        return wrong
    }

    func testUntouchedPagesReadAsZeroAndTakeWrites() throws {
        let cache = try makeCache(self, slots: 64)
        let region = try makeRegion(pages: 32, residentLimit: 8, cache: cache)
        for page in 0..<32 {
            XCTAssertEqual(
                region.buffer.load(fromByteOffset: page * pageSize + 8, as: UInt64.self), 0)
        }
        region.waitUntilIdle()
        var statistics = region.statistics
        XCTAssertEqual(statistics.zeroFaults, 32)
        // Read-only zero pages are clean: dropping them needs no store.
        XCTAssertEqual(statistics.dirtyStores, 0)
        XCTAssertEqual(statistics.cleanDrops, statistics.reclaimedPages)
        XCTAssertLessThanOrEqual(statistics.residentPages, 8)

        region.buffer.storeBytes(of: 42, toByteOffset: 3 * pageSize, as: UInt64.self)
        XCTAssertEqual(region.buffer.load(fromByteOffset: 3 * pageSize, as: UInt64.self), 42)
        region.waitUntilIdle()
        statistics = region.statistics
        XCTAssertEqual(statistics.lostPages, 0)
        XCTAssertNil(statistics.lastError)
    }

    func testReclaimKeepsResidencyUnderTheLimitAndLosesNothing() throws {
        let cache = try makeCache(self, slots: 256)
        let region = try makeRegion(pages: 128, residentLimit: 16, cache: cache)
        fill(region, pages: 0..<128)
        region.waitUntilIdle()
        XCTAssertLessThanOrEqual(kernelResidentPages(region), 16)
        XCTAssertEqual(wrongWords(region, pages: 0..<128), 0)
        region.waitUntilIdle()
        let statistics = region.statistics
        XCTAssertEqual(kernelResidentPages(region), statistics.residentPages)
        XCTAssertLessThanOrEqual(statistics.residentPagesMax, 16)
        XCTAssertGreaterThanOrEqual(statistics.dirtyStores, 128 - 16)
        XCTAssertGreaterThan(statistics.zcacheFaults, 0)
        XCTAssertEqual(statistics.storedPages + statistics.residentPages, 128)
        XCTAssertEqual(statistics.touchedPages, 128)
        XCTAssertEqual(statistics.lostPages, 0)
        XCTAssertEqual(statistics.limitOverruns, 0)
        XCTAssertNil(statistics.lastError)
        XCTAssertGreaterThan(statistics.zcacheFaultService.count, 0)
        XCTAssertGreaterThan(statistics.zcacheFaultService.p50Nanoseconds, 0)
    }

    func testCleanPagesAreDroppedWithoutAStore() throws {
        // Non-exclusive gets leave the zcache copy at a load: a page only read
        // since then equals its copy.
        let cache = try makeCache(self, slots: 256) { $0.exclusiveGets = false }
        let region = try makeRegion(pages: 64, residentLimit: 8, cache: cache)
        fill(region, pages: 0..<64)
        XCTAssertEqual(wrongWords(region, pages: 0..<64), 0)
        region.waitUntilIdle()
        let before = region.statistics
        XCTAssertEqual(wrongWords(region, pages: 0..<64), 0)
        region.waitUntilIdle()
        let after = region.statistics
        XCTAssertEqual(after.dirtyStores, before.dirtyStores, "reads alone stored pages again")
        XCTAssertGreaterThanOrEqual(after.cleanDrops - before.cleanDrops, 64 - 8 - 8)
        XCTAssertGreaterThan(after.cleanResidentPages, 0, "\(after)")

        // A write to a clean page is seen (page 63 was read last, so it is
        // mapped): it is stored again on the way out.
        fill(region, pages: 63..<64, version: 1)
        region.waitUntilIdle()
        XCTAssertEqual(region.statistics.writeProtectFaults, after.writeProtectFaults + 1)
        fill(region, pages: 0..<63, version: 1)
        XCTAssertEqual(wrongWords(region, pages: 0..<64, version: 1), 0)
        region.waitUntilIdle()
        let rewritten = region.statistics
        XCTAssertGreaterThan(rewritten.writeProtectFaults, after.writeProtectFaults)
        XCTAssertGreaterThanOrEqual(rewritten.dirtyStores - after.dirtyStores, 64 - 8 - 8)
        XCTAssertEqual(rewritten.lostPages, 0)
        XCTAssertNil(rewritten.lastError)
    }

    func testWrittenBackPagesComeBackFromTheDevice() throws {
        let cache = try makeCache(self, slots: 256)
        let region = try makeRegion(pages: 96, residentLimit: 8, cache: cache)
        fill(region, pages: 0..<96)
        region.waitUntilIdle()
        let written = cache.writeback(pageframes: 1000)
        cache.waitForWriteback()
        XCTAssertGreaterThan(written, 0)
        XCTAssertEqual(wrongWords(region, pages: 0..<96), 0)
        region.waitUntilIdle()
        let statistics = region.statistics
        XCTAssertGreaterThan(statistics.deviceFaults + statistics.swapCacheFaults, 0)
        XCTAssertEqual(statistics.lostPages, 0)
    }

    func testPagesTheCacheRefusesGoToTheDevice() throws {
        // zbud: two frames hold at most four of these pages, so most are refused.
        let cache = try makeCache(self, slots: 256) {
            $0.pageframes = 2
            $0.allocator = .zbud
        }
        let region = try makeRegion(pages: 64, residentLimit: 8, cache: cache)
        fill(region, pages: 0..<64)
        XCTAssertEqual(wrongWords(region, pages: 0..<64), 0)
        region.waitUntilIdle()
        let statistics = region.statistics
        XCTAssertGreaterThan(statistics.deviceFaults + statistics.swapCacheFaults, 0)
        XCTAssertEqual(statistics.storeFailures, 0)
        XCTAssertEqual(statistics.lostPages, 0)
    }

    func testFIFOPolicyAlsoLosesNothing() throws {
        let cache = try makeCache(self, slots: 128)
        let region = try makeRegion(pages: 64, residentLimit: 8, cache: cache, policy: .fifo)
        fill(region, pages: 0..<64)
        XCTAssertEqual(wrongWords(region, pages: 0..<64), 0)
        region.waitUntilIdle()
        XCTAssertEqual(region.statistics.secondChances, 0)
        XCTAssertEqual(region.statistics.lostPages, 0)
    }

    func testCloseFreesEverySwapEntry() throws {
        let cache = try makeCache(self, slots: 128) { $0.exclusiveGets = false }
        let region = try makeRegion(pages: 64, residentLimit: 8, cache: cache)
        fill(region, pages: 0..<64)
        XCTAssertEqual(wrongWords(region, pages: 0..<64), 0)
        let device = try XCTUnwrap(cache.swapDevice(type: 0))
        XCTAssertGreaterThan(device.slots.usedSlots, 0)
        region.close()
        region.close()  // idempotent
        cache.waitForWriteback()
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    func testBadSizesAndMissingDevicesAreTypedErrors() throws {
        let cache = try makeCache(self, slots: 16)
        XCTAssertThrowsError(
            try ZCacheRegion(pages: 0, residentLimit: 8, cache: cache, swapType: 0)
        ) { XCTAssertEqual($0 as? ZCacheRegionError, .invalidSize(pages: 0, residentLimit: 8)) }
        XCTAssertThrowsError(
            try ZCacheRegion(pages: 16, residentLimit: 4, cache: cache, swapType: 0)
        ) { XCTAssertEqual($0 as? ZCacheRegionError, .invalidSize(pages: 16, residentLimit: 4)) }
        XCTAssertThrowsError(
            try ZCacheRegion(pages: 16, residentLimit: 32, cache: cache, swapType: 0)
        ) { XCTAssertEqual($0 as? ZCacheRegionError, .invalidSize(pages: 16, residentLimit: 32)) }
        XCTAssertThrowsError(
            try ZCacheRegion(pages: 16, residentLimit: 8, cache: cache, swapType: 5)
        ) { XCTAssertEqual($0 as? ZCacheRegionError, .noSwapDevice(type: 5)) }
        XCTAssertThrowsError(
            try ZCacheRegion(pages: 17, residentLimit: 8, cache: cache, swapType: 0)
        ) { XCTAssertEqual($0 as? ZCacheRegionError, .swapDeviceTooSmall(slots: 16, pages: 17)) }
        for error: ZCacheRegionError in [
            .unsupported, .userfaultfdUnavailable(errno: 1), .userfaultfdUnavailable(errno: 38),
            .featureMissing("x"), .systemCall("mmap", errno: 12),
        ] {
            XCTAssertFalse(error.description.isEmpty)
            XCTAssertFalse(error.description.contains("\n"))
        }
    }
}
