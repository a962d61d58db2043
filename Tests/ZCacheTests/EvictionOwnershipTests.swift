// The seed's double-free question at the ZCache level: evicting a frame
// flushes its buds through TMem, whose free callback must release nothing
// (the evictor owns the frame). The frame accounting proves each frame is
// freed exactly once; the pool's invalid-free count stays 0.

import XCTest
import ZCacheSupport

@testable import ZCache

final class EvictionOwnershipTests: XCTestCase {
    func testEvictingEveryEphemeralFrameFreesEachFrameOnce() throws {
        let cache = CoreTestSupport.cache(pageframes: 32)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        // Buddied and unbuddied ephemeral frames, some persistent ones, zero pages.
        var stored = 0
        for index in 0..<UInt32(40) {
            let page =
                index % 3 == 0
                ? CoreTestSupport.page(compressingTo: 3300...3500, seed: UInt64(index))
                : CoreTestSupport.page(compressingTo: 900...1100, seed: UInt64(index))
            if try cache.put(fs, file: UInt64(index % 4), index: index, page) { stored += 1 }
        }
        XCTAssertTrue(try cache.put(fs, file: 9, index: 0, TestPages.zero().bytes))
        for offset in 0..<UInt64(4) {
            XCTAssertEqual(
                try cache.store(offset: offset, TestPages.text(seed: offset).bytes), .stored)
        }
        let before = cache.statistics
        XCTAssertGreaterThan(before.zbud.ephBuddiedCount, 0)
        XCTAssertGreaterThan(
            before.zbud.ephUnbuddiedCount, 0,
            "\(before.zbud) \(before.zcache.ephPageframes) \(stored)")
        cache.assertConsistent()

        // Replace a few keys first, so some evicted buds' keys now live elsewhere.
        for index in [1, 2, 4] as [UInt32] {
            XCTAssertTrue(
                try cache.put(
                    fs, file: UInt64(index % 4), index: index, TestPages.structured(seed: 9).bytes))
        }
        let ephFrames = cache.statistics.zcache.ephPageframes
        let ephPages = cache.statistics.zcache.ephZPages
        XCTAssertEqual(cache.evictEphemeralPageframes(1000), ephFrames)
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.evictedEphPageframes, ephFrames)
        XCTAssertEqual(stats.zcache.evictedEphZPages, ephPages)
        XCTAssertEqual(stats.zcache.ephPageframes, 0)
        XCTAssertEqual(stats.zcache.ephZPages, 0)
        XCTAssertEqual(stats.zcache.ephZBytes, 0)
        XCTAssertEqual(stats.framePool.invalidFrees, 0)
        XCTAssertEqual(stats.framePool.framesInUse, stats.zcache.persPageframes)
        cache.assertConsistent()
        // Every ephemeral key misses now, except the zero page (no frame to evict).
        for index in 0..<UInt32(40) {
            XCTAssertNil(digest(try cache.get(fs, file: UInt64(index % 4), index: index)))
        }
        XCTAssertEqual(digest(try cache.get(fs, file: 9, index: 0)), digest(TestPages.zero().bytes))
        // Persistent pages are never evicted.
        for offset in 0..<UInt64(4) {
            XCTAssertEqual(
                digest(try cache.load(offset: offset)), digest(TestPages.text(seed: offset).bytes))
        }
        stats = cache.statistics
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        XCTAssertEqual(stats.framePool.allocatedTotal, stats.framePool.freedTotal)
        cache.assertConsistent()
    }

    func testEvictionInterleavedWithFlushesOfTheSameKeys() throws {
        let cache = CoreTestSupport.cache(pageframes: 6)
        let fs = try cache.cleancacheInitFilesystem()
        var rng = SeededGenerator(seed: 3)
        let small = (0..<8).map {
            CoreTestSupport.page(compressingTo: 700...1500, seed: UInt64($0))
        }
        for step in 0..<20_000 {
            let file = UInt64.random(in: 0..<3, using: &rng)
            let index = UInt32.random(in: 0..<16, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                _ = try cache.put(fs, file: file, index: index, small[Int(index) % small.count])
            case 5: try cache.cleancacheInvalidatePage(fs, file: ObjectID(file), index: index)
            case 6: try cache.cleancacheInvalidateInode(fs, file: ObjectID(file))
            case 7:
                if let page = try cache.get(fs, file: file, index: index) {
                    XCTAssertEqual(digest(page), digest(small[Int(index) % small.count]))
                }
            default: cache.evictEphemeralPageframes(Int.random(in: 1...2, using: &rng))
            }
            if !cache.checkFrameAccounting() { return XCTFail("accounting at step \(step)") }
        }
        try cache.cleancacheInvalidateFilesystem(fs)
        let stats = cache.statistics
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        XCTAssertEqual(stats.framePool.invalidFrees, 0)
        XCTAssertGreaterThan(stats.zcache.evictedEphPageframes, 100)
        cache.assertConsistent()
    }
}
