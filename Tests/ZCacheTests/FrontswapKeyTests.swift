// Frontswap's key swizzling against the kernel's formula
// (oid[0] = type << 8 | offset & 0xff, index = offset >> 8) and its inverse.

import XCTest
import ZCacheSupport

@testable import ZCache

final class FrontswapKeyTests: XCTestCase {
    static let edgeOffsets: [UInt64] = [
        0, 1, 255, 256, 257, 0xFFFF, 0x1_0000, (1 << 32) - 1, 1 << 32, (1 << 32) + 255,
        (1 << 40) - 256, (1 << 40) - 1,
    ]

    func testSwizzleMatchesTheKernelFormulaAndUnswizzleInvertsIt() throws {
        var rng = SeededGenerator(seed: 6)
        let offsets = Self.edgeOffsets + (0..<64).map { _ in rng.next() & FrontswapKey.maxOffset }
        for type in 0..<FrontswapKey.maxSwapTypes {
            for offset in offsets {
                let (object, index) = try XCTUnwrap(
                    FrontswapKey.swizzle(type: type, offset: offset))
                XCTAssertEqual(object, ObjectID(UInt64(type) << 8 | offset & 0xFF))
                XCTAssertEqual(index, UInt32(offset >> 8))
                let back = FrontswapKey.unswizzle(object: object, index: index)
                XCTAssertEqual(back.type, type)
                XCTAssertEqual(back.offset, offset)
            }
        }
    }

    func testSwizzleIsInjectiveNearTheEdges() throws {
        var seen: [TMemKeyParts: (Int, UInt64)] = [:]
        for type in 0..<FrontswapKey.maxSwapTypes {
            for base in Self.edgeOffsets {
                for delta in [0, 1, 255, 256] as [UInt64]
                where base + delta <= FrontswapKey.maxOffset {
                    let offset = base + delta
                    let (object, index) = try XCTUnwrap(
                        FrontswapKey.swizzle(type: type, offset: offset))
                    let parts = TMemKeyParts(object: object, index: index)
                    if let earlier = seen[parts], earlier != (type, offset) {
                        XCTFail("\(earlier) and \((type, offset)) share \(object) [\(index)]")
                    }
                    seen[parts] = (type, offset)
                }
            }
        }
    }

    func testOutOfRangeTypesAndOffsetsAreRejected() {
        XCTAssertNil(FrontswapKey.swizzle(type: -1, offset: 0))
        XCTAssertNil(FrontswapKey.swizzle(type: 32, offset: 0))
        XCTAssertNil(FrontswapKey.swizzle(type: Int.max, offset: 0))
        XCTAssertNil(FrontswapKey.swizzle(type: 0, offset: 1 << 40))
        XCTAssertNil(FrontswapKey.swizzle(type: 31, offset: .max))
        XCTAssertNotNil(FrontswapKey.swizzle(type: 31, offset: (1 << 40) - 1))
        XCTAssertEqual(FrontswapKey.maxOffset, (1 << 40) - 1)
    }

    func testStoresAtTheEdgesOfEveryTypeRoundTrip() throws {
        let cache = CoreTestSupport.cache(pageframes: 64)
        for type in 0..<FrontswapKey.maxSwapTypes { try cache.frontswapInit(type: type) }
        var expected: [(Int, UInt64, [UInt8])] = []
        for type in [0, 1, 30, 31] {
            for (n, offset) in Self.edgeOffsets.enumerated() {
                // Small distinct pages: the type and offset in a zero page.
                var page = [UInt8](repeating: 0, count: pageSize)
                withUnsafeBytes(of: offset) { page.replaceSubrange(0..<8, with: $0) }
                page[100] = UInt8(type + 1)
                page[200] = UInt8(n)
                XCTAssertEqual(try cache.store(type: type, offset: offset, page), .stored)
                expected.append((type, offset, page))
            }
        }
        XCTAssertEqual(cache.statistics.zcache.persZPages, expected.count)
        // Invalidating one area leaves the others.
        try cache.frontswapInvalidateArea(type: 1)
        for (type, offset, page) in expected {
            let loaded = try type == 1 ? nil : cache.load(type: type, offset: offset)
            XCTAssertEqual(
                digest(loaded), type == 1 ? nil : digest(page), "type \(type) offset \(offset)")
        }
        XCTAssertThrowsError(try cache.load(type: 1, offset: 0)) {
            XCTAssertEqual($0 as? ZCacheError, .swapTypeNotInitialised(1))
        }
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        cache.assertConsistent()
    }

    func testInvalidateAreaReachesEveryOffsetOfTheType() throws {
        let cache = CoreTestSupport.cache(pageframes: 1024)
        try cache.frontswapInit(type: 3)
        try cache.frontswapInit(type: 4)
        let page = TestPages.text(seed: 1).bytes
        for offset in 0..<UInt64(600) {
            XCTAssertEqual(try cache.store(type: 3, offset: offset, page), .stored)
        }
        XCTAssertEqual(try cache.store(type: 4, offset: 7, page), .stored)
        try cache.frontswapInvalidateArea(type: 3)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 1)
        try cache.frontswapInit(type: 3)
        for offset in [0, 255, 256, 599] as [UInt64] {
            XCTAssertNil(digest(try cache.load(type: 3, offset: offset)))
        }
        XCTAssertEqual(digest(try cache.load(type: 4, offset: 7)), digest(page))
        cache.assertConsistent()
    }
}

private struct TMemKeyParts: Hashable {
    let object: ObjectID
    let index: UInt32
}
