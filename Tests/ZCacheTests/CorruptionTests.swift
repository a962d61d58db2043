// Corrupted compressed data in a frame: for every codec, both zbud classes and
// many damage patterns, a get of the damaged page is a typed
// `decompressionFailed` or a clean page-sized result, never a crash; every
// other page (its buddy in the same frame included) comes back bit-identical;
// the accounting holds; and writeback of a damaged page drops it cleanly.

import Foundation
import XCTest

@testable import ZBud
@testable import ZCache

final class CorruptionTests: XCTestCase {
    /// Where a stored page's compressed bytes live in the frame pool.
    private func budData(_ cache: ZCache, _ key: TMemKey) throws -> UnsafeMutableRawBufferPointer {
        let handles = cache.tmem.checkInvariants()
        let handle = try XCTUnwrap(handles[key], "\(key) is not stored")
        XCTAssertFalse(handle.isZeroFilled)
        let zbud = try XCTUnwrap(cache.store.allocator(handle.zbudClass) as? ZBudAllocator).zbud
        let ref = ZBudRef(rawValue: handle.allocation)
        let size = try XCTUnwrap(zbud.dataSize(of: ref))
        let frame = cache.store.pool.address(of: ref.frame)
        let start = ZBud.budOffset(bud: ref.bud, dataSize: size) + ZBud.ownerSize
        return UnsafeMutableRawBufferPointer(start: frame + start, count: size)
    }

    /// The ways a bud's data is damaged: `(name, damage)`.
    private func damages(seed: UInt64) -> [(String, (UnsafeMutableRawBufferPointer) -> Void)] {
        var rng = SeededGenerator(seed: seed)
        let flips = (0..<8).map { _ in (UInt64.random(in: 0..<UInt64.max, using: &rng)) }
        return [
            ("first byte flipped", { $0[0] ^= 0xFF }),
            ("last byte flipped", { $0[$0.count - 1] ^= 0xFF }),
            ("middle byte flipped", { $0[$0.count / 2] ^= 0x55 }),
            (
                "8 random bytes flipped",
                { data in
                    for f in flips {
                        data[Int(f % UInt64(data.count))] ^= UInt8(truncatingIfNeeded: f >> 32) | 1
                    }
                }
            ),
            ("all 0xFF", { $0.initializeMemory(as: UInt8.self, repeating: 0xFF) }),
            ("all zero", { $0.initializeMemory(as: UInt8.self, repeating: 0) }),
            (
                "second half zeroed",
                { data in
                    data[(data.count / 2)...].initializeMemory(as: UInt8.self, repeating: 0)
                }
            ),
            (
                "random bytes",
                { data in
                    var r = SeededGenerator(seed: seed ^ 0xABCD)
                    for i in data.indices { data[i] = UInt8.random(in: 0...255, using: &r) }
                }
            ),
        ]
    }

    func testDamagedBudsInEveryCodecAndClassSpareEveryOtherPage() throws {
        var outcomes: [String: Int] = [:]
        for kind in CompressorKind.allCases {
            for (damageIndex, (name, damage)) in damages(seed: 7).enumerated() {
                // Structured pages compress below half a frame: two buds per frame,
                // so victims have buddies.
                let cache = CoreTestSupport.cache(pageframes: 32) { $0.compressor = kind }
                try cache.frontswapInit(type: 0)
                let fs = try cache.cleancacheInitFilesystem()
                let pages = (0..<12).map {
                    TestPages.structured(seed: UInt64(100 * damageIndex + $0)).bytes
                }
                for (n, page) in pages.enumerated() {
                    XCTAssertEqual(try cache.store(offset: UInt64(n), page), .stored)
                    XCTAssertTrue(try cache.put(fs, file: 3, index: UInt32(n), page))
                }
                XCTAssertGreaterThan(cache.statistics.zbud.persBuddiedCount, 0, "buddies expected")
                // Damage pages 0, 5 and 10 in both classes.
                let victims: Set<Int> = [0, 5, 10]
                for n in victims {
                    guard let (object, index) = FrontswapKey.swizzle(type: 0, offset: UInt64(n))
                    else {
                        return XCTFail("swizzle")
                    }
                    damage(
                        try budData(
                            cache, TMemKey(pool: cache.frontswapPool, object: object, index: index))
                    )
                    damage(
                        try budData(
                            cache, TMemKey(pool: fs.pool, object: ObjectID(3), index: UInt32(n))))
                }
                for (n, page) in pages.enumerated() {
                    for front in ["frontswap", "cleancache"] {
                        let result: Result<[UInt8]?, Error>
                        if front == "frontswap" {
                            result = Result { try cache.load(offset: UInt64(n)) }
                        } else {
                            result = Result { try cache.get(fs, file: 3, index: UInt32(n)) }
                        }
                        let label = "\(kind) \(name) \(front) page \(n)"
                        switch result {
                        case .success(let bytes?):
                            XCTAssertEqual(bytes.count, pageSize, label)
                            if victims.contains(n) {
                                outcomes["\(kind): clean result", default: 0] += 1
                            } else {
                                XCTAssertEqual(digest(bytes), digest(page), label)
                            }
                        case .success(nil):
                            XCTFail("\(label): missing")
                        case .failure(let error):
                            XCTAssertTrue(victims.contains(n), "\(label): \(error)")
                            guard case .decompressionFailed = error as? ZCacheError else {
                                XCTFail("\(label): \(error) is not decompressionFailed")
                                continue
                            }
                            outcomes["\(kind): decompressionFailed", default: 0] += 1
                        }
                    }
                }
                // Every get removed its page, damaged or not: nothing is left.
                XCTAssertEqual(cache.statistics.framePool.framesInUse, 0, "\(kind) \(name)")
                XCTAssertTrue(cache.checkFrameAccounting())
                cache.checkInvariants()
            }
        }
        // Every codec must detect at least the gross damage.
        for kind in CompressorKind.allCases {
            XCTAssertGreaterThan(outcomes["\(kind): decompressionFailed", default: 0], 0, "\(kind)")
        }
        print("CorruptionTests: outcomes of damaged gets: \(outcomes.sorted { $0.key < $1.key })")
    }

    func testWritebackOfADamagedPageDropsItAndFreesEverything() throws {
        let cache = CoreTestSupport.cache(pageframes: 16)
        let directory =
            NSTemporaryDirectory()
            + "zcache-corrupt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let device = try SwapDevice.create(path: directory + "/swap", pages: 64)
        defer { device.close() }
        try cache.attachSwapDevice(device)
        let pages = (0..<8).map { TestPages.structured(seed: 900 + UInt64($0)).bytes }
        var entries: [SwapEntry] = []
        for page in pages {
            entries.append(try page.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) })
        }
        // Damage every page's data beyond recognition, then write everything back.
        for entry in entries {
            let (object, index) = try XCTUnwrap(FrontswapKey.swizzle(type: 0, offset: entry.offset))
            try budData(cache, TMemKey(pool: cache.frontswapPool, object: object, index: index))
                .initializeMemory(as: UInt8.self, repeating: 0xFF)
        }
        cache.writeback(pageframes: 100)
        cache.waitForWriteback()
        XCTAssertEqual(cache.statistics.zcache.decompressErrors, entries.count)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
        // The damaged pages are gone; swap-in reads the (never written) slot and
        // returns a page without crashing, and frees the entry.
        for entry in entries {
            var out = [UInt8](repeating: 0, count: pageSize)
            _ = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
        }
        cache.waitForWriteback()
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
    }
}
