// The allocator seam's own promises: the policy choice for poorly
// compressible pages, compaction through ZCache (on demand and from the
// shrinker), and the allocator statistics (kind, frames, utilization,
// metadata per page), under each allocator.

import Foundation
import XCTest

@testable import TMem
@testable import ZCache

final class AllocatorSeamTests: AllocatorTestCase {
    func testStoreIncompressibleIsAPolicyOnlyAnAllocatorWithAHugeClassTakes() throws {
        // 3700 random bytes: compresses to more than 3584 (pers) but fits a page.
        let page = CoreTestSupport.partRandom(3700, seed: 11)
        let zsize = try XCTUnwrap(CoreTestSupport.zsize(page))
        XCTAssertGreaterThan(zsize, ZCache.maxPersistentZSize)
        try forEachAllocator {
            for storeIncompressible in [false, true] {
                let cache = CoreTestSupport.cache(pageframes: 8) {
                    $0.allocator = allocator
                    $0.storeIncompressible = storeIncompressible
                }
                try cache.frontswapInit(type: 0)
                let result = try cache.store(offset: 1, page)
                let stats = cache.statistics.zcache
                if storeIncompressible && allocator == .zsmalloc {
                    XCTAssertEqual(result, .stored)
                    XCTAssertEqual(stats.incompressibleStored, 1)
                    XCTAssertEqual(stats.compressPoor, 0)
                    XCTAssertEqual(try cache.load(offset: 1), page)
                } else {
                    // zbud keeps the seed's refusal whatever the flag says.
                    XCTAssertEqual(result, .rejected(.compressPoor), "flag \(storeIncompressible)")
                    XCTAssertEqual(stats.incompressibleStored, 0)
                    XCTAssertEqual(stats.compressPoor, 1)
                }
                XCTAssertTrue(cache.checkFrameAccounting())
            }
        }
    }

    /// Stores pages, flushes a random half, compacts: zsmalloc gives back at
    /// least 90 % of the frames an ideal repacking of what is left within its
    /// size classes would; zbud cannot move buds and gives back none. The
    /// pages left all load back intact.
    func testCompactionGivesFramesBackAndKeepsThePages() throws {
        try forEachAllocator {
            let cache = CoreTestSupport.cache(pageframes: 4096) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            var rng = SeededGenerator(seed: 0xC0)
            var pages: [UInt64: [UInt8]] = [:]
            for offset in UInt64(0)..<2000 {
                let page = CoreTestSupport.partRandom(
                    Int.random(in: 200...2400, using: &rng), seed: offset)
                XCTAssertEqual(try cache.store(offset: offset, page), .stored)
                pages[offset] = page
            }
            for offset in pages.keys.shuffled(using: &rng).prefix(1000) {
                try cache.frontswapInvalidatePage(type: 0, offset: offset)
                pages[offset] = nil
            }
            let before = cache.statistics
            let freed = cache.compact()
            let after = cache.statistics
            XCTAssertEqual(before.allocator.framesInUse - after.allocator.framesInUse, freed)
            XCTAssertEqual(after.zcache.pagesCompacted, freed)
            if allocator == .zbud {
                XCTAssertEqual(freed, 0)
            } else {
                // The ideal repacking within zsmalloc's classes: each class
                // keeps only the whole zspages its live objects fill.
                var ideal = 0
                for row in before.allocator.persistent.classes where row.pagesUsed > 0 {
                    let perZspage = row.pagesPerZspage * pageSize / row.size
                    let zspages = (row.objectsUsed + perZspage - 1) / perZspage
                    ideal += max(0, row.pagesUsed - zspages * row.pagesPerZspage)
                }
                XCTAssertGreaterThan(freed, 0)
                XCTAssertGreaterThanOrEqual(
                    Double(freed), 0.9 * Double(ideal),
                    "compaction freed \(freed) of an ideal \(ideal)")
            }
            for (offset, page) in pages {
                XCTAssertEqual(try cache.load(offset: offset), page, "offset \(offset)")
            }
            XCTAssertTrue(cache.checkFrameAccounting())
            cache.checkInvariants()
        }
    }

    func testTheShrinkerCompacts() throws {
        let cache = CoreTestSupport.cache(pageframes: 1024) { $0.allocator = .zsmalloc }
        try cache.frontswapInit(type: 0)
        for offset in UInt64(0)..<600 {
            _ = try cache.store(offset: offset, CoreTestSupport.partRandom(1200, seed: offset))
        }
        for offset in stride(from: UInt64(0), to: 600, by: 2) {
            try cache.frontswapInvalidatePage(type: 0, offset: offset)
        }
        // Plenty of LRU room: nothing to evict or write back, only compaction.
        let result = cache.shrinkerScan(
            counts: HostLRUCounts(
                activeFile: 1000, inactiveFile: 0, activeAnon: 1000, inactiveAnon: 0))
        XCTAssertEqual(result.evicted, 0)
        XCTAssertEqual(result.writtenBack, 0)
        XCTAssertGreaterThan(result.compacted, 0)
        XCTAssertEqual(cache.statistics.zcache.pagesCompacted, result.compacted)
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    /// TMem's page-map slot: a 4-byte index and an optional handle that
    /// Swift stores in 8 bytes (see `ZPageHandle`).
    func testAnOptionalHandleTakesNoExtraByte() {
        XCTAssertEqual(MemoryLayout<ZPageHandle?>.size, 8)
        XCTAssertEqual(MemoryLayout<PageMap<ZPageHandle>.Slot>.stride, 16)
    }

    func testAllocatorStatistics() throws {
        try forEachAllocator {
            let cache = CoreTestSupport.cache(pageframes: 1024) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            let empty = cache.statistics.allocator
            XCTAssertEqual(empty.allocator, allocator)
            XCTAssertEqual(empty.framesInUse, 0)
            XCTAssertEqual(empty.metadataBytesPerPage, 0)
            var compressed = 0
            for offset in UInt64(0)..<500 {
                let page = TestPages.text(seed: offset).bytes
                XCTAssertEqual(try cache.store(offset: offset, page), .stored)
                compressed += try XCTUnwrap(CoreTestSupport.zsize(page))
            }
            let stats = cache.statistics
            let section = stats.allocator
            XCTAssertEqual(section.framesInUse, stats.zcache.persPageframes)
            XCTAssertEqual(section.framesInUse, stats.framePool.framesInUse)
            XCTAssertEqual(section.persistent.objects, 500)
            // Object bytes: zbud's buds as stored (the compressed bytes plus
            // the 32-byte key in front); for zsmalloc the compressed bytes
            // only (its short key in front of each object is overhead).
            let objectBytes = compressed + (allocator == .zbud ? 500 * 32 : 0)
            XCTAssertEqual(section.persistent.objectBytes, objectBytes)
            XCTAssertEqual(
                section.poolUtilization,
                Double(objectBytes) / Double(section.framesInUse * pageSize),
                accuracy: 1e-9)
            XCTAssertGreaterThan(section.metadataBytesPerPage, 0)
            XCTAssertEqual(
                section.metadataBytesPerPage, Double(section.metadataBytes) / 500, accuracy: 1e-9)
            XCTAssertEqual(
                section.metadataBytes,
                section.metadataBytesTMem + section.metadataBytesAllocators
                    + section.metadataBytesZCache)
            XCTAssertGreaterThan(section.metadataBytesTMem, 0)
            XCTAssertGreaterThanOrEqual(section.residentBytes, section.framesInUse * pageSize)
            // JSON carries the kernel-style names.
            let json = String(decoding: try JSONEncoder().encode(stats), as: UTF8.self)
            for name in [
                "\"frames_in_use\"", "\"resident_bytes\"", "\"metadata_bytes_per_page\"",
                "\"pool_utilization\"", "\"same_filled_pages\"", "\"pages_compacted\"",
                "\"allocator\":\"\(allocator)\"",
            ] {
                XCTAssertTrue(json.contains(name), "\(name) missing")
            }
        }
    }
}
