// Memory really given back: after every page is flushed, the shrinker's scan
// returns the frames that stayed free to the OS, so the pool's resident
// memory (the kernel's mincore of the frame region, not the pool's own
// count) falls to at most 1 % of the configured size plus the pool's fixed
// reserve of recently freed frames. Under each allocator.

import Foundation
import PageFrames
import XCTest

@testable import ZCache

final class ResidentMemoryTests: AllocatorTestCase {
    func testFlushingEveryPageThenAScanGivesTheFramesBack() throws {
        try forEachAllocator {
            let configuredFrames = 16_384
            let cache = CoreTestSupport.cache(pageframes: configuredFrames) {
                $0.allocator = allocator
            }
            try cache.frontswapInit(type: 0)
            let bound =
                configuredFrames * pageSize / 100 + PageFramePool.residentFreeReserve * pageSize
            XCTAssertLessThanOrEqual(cache.statistics.allocator.residentBytes, bound, "empty")
            for offset in UInt64(0)..<3_000 {
                XCTAssertEqual(
                    try cache.store(offset: offset, TestPages.text(seed: offset).bytes), .stored)
            }
            let full = cache.statistics.allocator
            // The frames in use are resident, and far more than the bound.
            XCTAssertGreaterThanOrEqual(full.residentBytes, full.framesInUse * pageSize)
            XCTAssertGreaterThan(full.residentBytes, 2 * bound)

            try cache.frontswapInvalidateArea(type: 0)
            XCTAssertEqual(cache.statistics.allocator.framesInUse, 0)
            // Freed frames stay resident while recently freed (a refill would
            // reuse them); once they have been free for the pool's idle time,
            // the scan gives them back.
            Thread.sleep(
                forTimeInterval: Double(PageFramePool.defaultReleaseAfterIdleMilliseconds) / 1000
                    + 0.2)
            _ = cache.shrinkerScan()
            let resident = cache.statistics.allocator.residentBytes
            XCTAssertLessThanOrEqual(
                resident, bound, "after flushing \(full.framesInUse) frames' pages")
            cache.assertConsistent()
        }
    }

    func testReleaseFreeFramesGivesFreedFramesBackAtOnce() throws {
        try forEachAllocator {
            let cache = CoreTestSupport.cache(pageframes: 16_384) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            for offset in UInt64(0)..<3_000 {
                XCTAssertEqual(
                    try cache.store(offset: offset, TestPages.text(seed: offset).bytes), .stored)
            }
            // Keep every 100th page: a cache still in use, not an empty one.
            for offset in UInt64(0)..<3_000 where offset % 100 != 0 {
                try cache.frontswapInvalidatePage(type: 0, offset: offset)
            }
            let kept = cache.statistics.allocator.framesInUse
            let recentlyFreed = cache.statistics.allocator.residentBytes
            // Just freed: still resident (the idle time has not passed).
            XCTAssertGreaterThan(
                recentlyFreed, (kept + 2 * PageFramePool.residentFreeReserve) * pageSize)
            let released = cache.releaseFreeFrames()
            XCTAssertGreaterThan(released, 0)
            let resident = cache.statistics.allocator.residentBytes
            XCTAssertLessThanOrEqual(
                resident, (kept + PageFramePool.residentFreeReserve) * pageSize,
                "frames in use \(kept), released \(released)")
            // Nothing kept was lost.
            for offset in stride(from: UInt64(0), to: 3_000, by: 100) {
                XCTAssertEqual(try cache.load(offset: offset), TestPages.text(seed: offset).bytes)
            }
            cache.assertConsistent()
        }
    }
}
