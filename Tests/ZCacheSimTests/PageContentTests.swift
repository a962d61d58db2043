import XCTest
import ZCache
import ZCacheSupport

@testable import ZCacheSim

final class PageContentTests: XCTestCase {
    func page(_ source: PageContentSource, _ key: PageKey) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: pageSize) { buffer, count in
            source.fill(key, into: UnsafeMutableRawBufferPointer(buffer))
            count = pageSize
        }
    }

    func testContentsArePureAndVersionSensitive() {
        let source = PageContentSource.generator(seed: 42)
        var differing = 0
        for p in 0..<200 {
            let k1 = PageKey(owner: 1, page: UInt32(p), version: 1)
            let k2 = PageKey(owner: 1, page: UInt32(p), version: 2)
            XCTAssertEqual(page(source, k1), page(source, k1))
            let a = page(source, k1)
            let b = page(source, k2)
            if a != b { differing += 1 }
            // Only two zero pages can be equal.
            if a == b { XCTAssertTrue(a.allSatisfy { $0 == 0 }) }
        }
        XCTAssertGreaterThan(differing, 150)
        // Another seed, other contents.
        let other = PageContentSource.generator(seed: 43)
        XCTAssertNotEqual(
            (0..<50).map { page(source, PageKey(owner: 0, page: $0, version: 1)) },
            (0..<50).map { page(other, PageKey(owner: 0, page: $0, version: 1)) })
    }

    /// The mix compresses the way real memory does: some zero pages, some
    /// incompressible ones, the rest around 2-4x with LZ4.
    func testGeneratorMixHasRealisticCompressibility() {
        let source = PageContentSource.generator(seed: 9)
        let compressor = Compressor(.lz4)
        var kinds: [PageContentSource.Kind: Int] = [:]
        var zero = 0
        var incompressible = 0
        var compressedBytes = 0
        var compressedPages = 0
        var out = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        let n = 2000
        for p in 0..<n {
            let key = PageKey(owner: 3, page: UInt32(p), version: 1)
            kinds[source.kind(of: key)!, default: 0] += 1
            let bytes = page(source, key)
            if bytes.allSatisfy({ $0 == 0 }) {
                zero += 1
                continue
            }
            let size = bytes.withUnsafeBytes { input in
                out.withUnsafeMutableBytes { compressor.compress(input, into: $0, bound: 3584) }
            }
            if let size {
                compressedBytes += size
                compressedPages += 1
            } else {
                incompressible += 1
            }
        }
        XCTAssertEqual(kinds.count, PageContentSource.Kind.allCases.count)
        XCTAssertEqual(Double(zero) / Double(n), 0.15, accuracy: 0.04)
        XCTAssertEqual(Double(incompressible) / Double(n), 0.08, accuracy: 0.03)
        let ratio = Double(compressedPages * pageSize) / Double(compressedBytes)
        XCTAssertGreaterThan(ratio, 2.0)
        XCTAssertLessThan(ratio, 8.0)
    }

    func testCorpusPagesAreStampedAndZeroPagesKept() throws {
        var bytes = [UInt8](repeating: 0, count: 4 * pageSize)
        for i in pageSize..<(2 * pageSize) { bytes[i] = UInt8(i % 251) }
        let source = try PageContentSource.corpus(bytes, seed: 1)
        var sawZero = false
        var sawData = false
        for p in 0..<64 {
            let key = PageKey(owner: 0, page: UInt32(p), version: 1)
            let a = page(source, key)
            if a.allSatisfy({ $0 == 0 }) {
                sawZero = true
            } else {
                sawData = true
                XCTAssertNotEqual(a, page(source, PageKey(owner: 0, page: UInt32(p), version: 2)))
            }
        }
        XCTAssertTrue(sawZero)
        XCTAssertTrue(sawData)
        XCTAssertThrowsError(try PageContentSource.corpus([1, 2, 3], seed: 1))
    }

    /// The text generator copies words from a flat table; the reference is
    /// the plain loop over the vocabulary, byte by byte, from the same draws.
    func testTextPagesMatchTheWordByWordReference() {
        for seed in UInt64(1)...300 {
            var fast = [UInt8](repeating: 0xAA, count: pageSize)
            var rng = PagePRNG(seed: seed &* 0x9E37_79B9_7F4A_7C15)
            fast.withUnsafeMutableBytes { PageContentSource.fillText($0, &rng) }

            var reference = [UInt8]()
            var referenceRNG = PagePRNG(seed: seed &* 0x9E37_79B9_7F4A_7C15)
            while reference.count < pageSize {
                let r = referenceRNG.next()
                if r & 7 == 0 {
                    var v = (r >> 8) % 100_000
                    repeat {
                        reference.append(UInt8(48 + v % 10))
                        v /= 10
                    } while v > 0
                } else {
                    let vocabulary = PageContentSource.vocabulary
                    reference += vocabulary[Int((r >> 8) % UInt64(vocabulary.count))]
                }
                reference.append(32)
            }
            XCTAssertEqual(fast, Array(reference.prefix(pageSize)), "seed \(seed)")
        }
    }
}
