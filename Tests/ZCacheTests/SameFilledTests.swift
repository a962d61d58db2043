// Same-filled pages (zram's same_pages): a page that is one 8-byte word
// repeated takes no frame, is counted in same_filled_pages (zero pages also in
// zero_filled_pages) and comes back bit-identical. Checked against an
// independent definition (the set of the page's words has one element) and a
// model of which keys hold which page, under every allocator.

import XCTest

@testable import ZCache

final class SameFilledTests: XCTestCase {
    /// A page of `word` repeated, built byte by byte (little-endian), not with
    /// the code under test.
    private func filled(_ word: UInt64) -> [UInt8] {
        (0..<pageSize).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0 % 8))) }
    }

    /// The reference: all 8-byte words of the page are equal.
    private func isSameFilled(_ page: [UInt8]) -> Bool {
        Set(stride(from: 0, to: pageSize, by: 8).map { page[$0..<$0 + 8] }).count == 1
    }

    func testSameFilledPagesTakeNoFrameAndComeBack() throws {
        for allocator in ZCacheAllocatorKind.allCases {
            let cache = CoreTestSupport.cache(pageframes: 16) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            let words: [UInt64] = [
                0, 1, 0xFFFF_FFFF_FFFF_FFFF, 0xDEAD_BEEF_0102_0304, 0x8080_8080_8080_8080,
            ]
            for (offset, word) in words.enumerated() {
                let page = filled(word)
                XCTAssertTrue(isSameFilled(page))
                XCTAssertEqual(
                    try cache.store(offset: UInt64(offset), page),
                    word == 0 ? .storedZeroFilled : .storedSameFilled, "\(allocator) \(word)")
            }
            var stats = cache.statistics.zcache
            XCTAssertEqual(stats.sameFilledPages, words.count, "\(allocator)")
            XCTAssertEqual(stats.zeroFilledPages, 1, "\(allocator)")
            XCTAssertEqual(stats.persPageframes, 0, "\(allocator)")
            XCTAssertEqual(cache.statistics.framePool.framesInUse, 0, "\(allocator)")
            XCTAssertEqual(cache.store.sameFilled.distinctWords, words.count - 1)
            for (offset, word) in words.enumerated() {
                XCTAssertEqual(try cache.load(offset: UInt64(offset)), filled(word), "\(allocator)")
            }
            // Exclusive gets removed them all, and the word table is empty again.
            stats = cache.statistics.zcache
            XCTAssertEqual(stats.sameFilledPages, 0)
            XCTAssertEqual(stats.zeroFilledPages, 0)
            XCTAssertEqual(stats.sameFilledPagesMax, words.count)
            XCTAssertEqual(cache.store.sameFilled.distinctWords, 0)
            XCTAssertTrue(cache.checkFrameAccounting())
        }
    }

    func testAPageDifferingInOneByteIsCompressed() throws {
        for allocator in ZCacheAllocatorKind.allCases {
            let cache = CoreTestSupport.cache(pageframes: 16) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            for position in [0, 7, 8, 2048, pageSize - 1] {
                var page = filled(0x1111_2222_3333_4444)
                page[position] ^= 1
                XCTAssertFalse(isSameFilled(page))
                XCTAssertEqual(try cache.store(offset: UInt64(position), page), .stored)
                XCTAssertEqual(try cache.load(offset: UInt64(position)), page)
            }
            XCTAssertEqual(cache.statistics.zcache.sameFilledPagesMax, 0, "\(allocator)")
        }
    }

    /// Random puts of same-filled and ordinary pages over a few keys, with
    /// flushes and loads; the counters follow a model of what each key holds.
    func testCountersFollowAModel() throws {
        for allocator in ZCacheAllocatorKind.allCases {
            let cache = CoreTestSupport.cache(pageframes: 64) { $0.allocator = allocator }
            try cache.frontswapInit(type: 0)
            var rng = SeededGenerator(seed: 0x5A3E)
            var model: [UInt64: [UInt8]] = [:]
            let words: [UInt64] = [0, 0xAB, 0xFFFF_0000_FFFF_0000, 7]
            for step in 0..<1500 {
                let offset = UInt64.random(in: 0..<24, using: &rng)
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<5:
                    let page =
                        Bool.random(using: &rng)
                        ? filled(words.randomElement(using: &rng)!)
                        : TestPages.text(seed: UInt64(step)).bytes
                    let result = try cache.store(offset: offset, page)
                    if result.isStored { model[offset] = page } else { model[offset] = nil }
                case 5..<8:
                    XCTAssertEqual(try cache.load(offset: offset), model[offset], "step \(step)")
                    model[offset] = nil  // exclusive gets
                default:
                    try cache.frontswapInvalidatePage(type: 0, offset: offset)
                    model[offset] = nil
                }
                guard step % 5 == 0 else { continue }  // statistics are not free
                let stats = cache.statistics.zcache
                let same = model.values.filter(isSameFilled)
                XCTAssertEqual(stats.sameFilledPages, same.count, "\(allocator) step \(step)")
                XCTAssertEqual(
                    stats.zeroFilledPages, same.filter { $0.allSatisfy { $0 == 0 } }.count,
                    "step \(step)")
                XCTAssertEqual(stats.persZPages, model.count - same.count, "step \(step)")
            }
            XCTAssertTrue(cache.checkFrameAccounting())
            cache.checkInvariants()
        }
    }
}
