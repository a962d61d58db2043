import XCTest
import ZCache
import ZCacheSupport

@testable import ZCacheSim

/// The density measurement against an independent count of the same pages.
final class DensityBenchmarkTests: XCTestCase {
    func testDensityAgainstIndependentCounts() throws {
        let generated = 400
        let zero = 30
        let sameFilled = 25
        let n = generated + zero + sameFilled
        var bytes = [UInt8](repeating: 0, count: n * pageSize)
        let source = PageContentSource.generator(seed: 5)
        bytes.withUnsafeMutableBytes { all in
            func page(_ i: Int) -> UnsafeMutableRawBufferPointer {
                UnsafeMutableRawBufferPointer(rebasing: all[i * pageSize..<(i + 1) * pageSize])
            }
            for i in 0..<generated {
                source.fill(PageKey(owner: 1, page: UInt32(i), version: 1), into: page(i))
            }
            // Pages zero..<generated+zero stay zero; then one repeated word each.
            for i in (generated + zero)..<n {
                let word = 0x0123_4567_89AB_CDEF &+ UInt64(i)
                for offset in stride(from: 0, to: pageSize, by: 8) {
                    page(i).storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
                }
            }
        }
        let report = try DensityBenchmark.run(pages: bytes, configuration: ZCacheConfiguration())
        XCTAssertEqual(report.pages, n)

        // The packed bytes of what the cache holds, counted independently.
        let codec = Compressor(.lz4)
        var expectedBytes = 0
        var buffer = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        var storable = 0
        var zeroCount = 0
        var uniformCount = 0
        bytes.withUnsafeBytes { all in
            for i in 0..<n {
                let page = UnsafeRawBufferPointer(rebasing: all[i * pageSize..<(i + 1) * pageSize])
                let first = page.loadUnaligned(as: UInt64.self)
                let uniform = stride(from: 0, to: pageSize, by: 8).allSatisfy {
                    page.loadUnaligned(fromByteOffset: $0, as: UInt64.self) == first
                }
                if uniform {
                    storable += 1
                    if first == 0 { zeroCount += 1 } else { uniformCount += 1 }
                    continue
                }
                let size = buffer.withUnsafeMutableBytes {
                    codec.compress(page, into: $0, bound: ZCache.maxPersistentZSize)
                }
                if let size {
                    expectedBytes += size
                    storable += 1
                }
            }
        }
        XCTAssertEqual(report.zeroPages, zeroCount)
        XCTAssertEqual(report.sameFilledPages, uniformCount)
        XCTAssertGreaterThanOrEqual(zeroCount, zero)
        XCTAssertGreaterThanOrEqual(uniformCount, sameFilled)
        XCTAssertGreaterThanOrEqual(report.storedPages, storable)
        if report.storedPages == storable {
            XCTAssertEqual(report.compressedBytes, expectedBytes)
        }
        // No allocator packs better than without gaps, and frames hold the bytes.
        XCTAssertLessThanOrEqual(report.densityVsLimit, 1.0)
        XCTAssertGreaterThan(report.densityVsLimit, 0.3)
        XCTAssertGreaterThanOrEqual(report.framesInUse * pageSize, report.compressedBytes)
        XCTAssertGreaterThan(report.dictionaryResidentBytes, 0)
        XCTAssertGreaterThan(report.dictionaryPagesPerPage, 0)
        XCTAssertEqual(
            report.densityVsDictionary, report.zcachePagesPerPage / report.dictionaryPagesPerPage,
            accuracy: 1e-9)
    }
}
