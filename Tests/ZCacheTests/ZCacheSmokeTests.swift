import Foundation
import XCTest

@testable import ZCache

final class ZCacheSmokeTests: XCTestCase {
    func testFrontswapRoundTripAndWriteback() throws {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 256
        let cache = ZCache(configuration: configuration)
        let path = NSTemporaryDirectory() + "zcache-smoke-\(getpid()).swap"
        defer { unlink(path) }
        let device = try SwapDevice.create(path: path, pages: 1024)
        try cache.attachSwapDevice(device)
        var entries: [(SwapEntry, [UInt8])] = []
        for i in 0..<100 {
            let page = TestPages.text(seed: UInt64(i)).bytes
            let entry = try page.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) }
            entries.append((entry, page))
        }
        XCTAssertTrue(cache.checkFrameAccounting())
        let written = cache.writeback(pageframes: 1000)
        XCTAssertGreaterThan(written, 0)
        cache.waitForWriteback()
        let stats = cache.statistics
        XCTAssertGreaterThan(stats.zcache.writtenbackPages, 0)
        XCTAssertEqual(stats.zcache.outstandingWritebackPages, 0)
        var sources: [ZCache.SwapInSource: Int] = [:]
        for (entry, page) in entries {
            var out = [UInt8](repeating: 0xAA, count: pageSize)
            let source = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
            sources[source, default: 0] += 1
            XCTAssertEqual(out, page, "entry \(entry) from \(source)")
        }
        XCTAssertGreaterThan(sources[.device, default: 0], 0)
        cache.waitForWriteback()
        XCTAssertTrue(cache.checkFrameAccounting())
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
        cache.checkInvariants()
    }

    func testCleancacheEviction() throws {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 16
        let cache = ZCache(configuration: configuration)
        let fs = try cache.cleancacheInitFilesystem()
        for i in 0..<200 {
            let page = TestPages.structured(seed: UInt64(i)).bytes
            try page.withUnsafeBytes {
                _ = try cache.cleancachePut(fs, file: ObjectID(1), index: UInt32(i), page: $0)
            }
        }
        let stats = cache.statistics
        XCTAssertGreaterThan(stats.zcache.ephAteTail, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
        var hits = 0
        for i in 0..<200 {
            var out = [UInt8](repeating: 0, count: pageSize)
            if try out.withUnsafeMutableBytes({
                try cache.cleancacheGet(fs, file: ObjectID(1), index: UInt32(i), into: $0)
            }) {
                hits += 1
                XCTAssertEqual(out, TestPages.structured(seed: UInt64(i)).bytes)
            }
        }
        XCTAssertGreaterThan(hits, 0)
        try cache.cleancacheInvalidateFilesystem(fs)
        XCTAssertTrue(cache.checkFrameAccounting())
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
    }
}
