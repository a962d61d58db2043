// Tests of the compression entry point, `Compressor`, for every codec: round
// trips, the bound, bad compressed input (corrupt, truncated, oversized), bad
// destinations, context reuse, and sharing one compressor between threads.
//
// Every decompression writes into a page followed by guard bytes, and every
// compression into a buffer with guard bytes past the bound, so a write past
// the allowed region fails the test rather than passing unnoticed.

import Foundation
import Synchronization
import XCTest
import ZCache
import ZCacheSupport

// MARK: - Guarded calls

/// Bytes placed after the region a call may write, and their fill pattern.
private let guardCount = 64
private let guardByte: UInt8 = 0xA5

/// What a guarded decompression did.
private struct Restored {
    /// The page, or the error the compressor threw.
    let result: Result<[UInt8], DecompressionError>
    /// Whether the guard bytes after the page were left alone.
    let guardIntact: Bool
}

extension Compressor {
    /// Compresses `page` with `bound`, into a destination of `destinationSize`
    /// bytes (default: room for any page) followed by guard bytes, and checks
    /// that nothing past `min(bound, destinationSize)` was written.
    fileprivate func guardedCompress(
        _ page: [UInt8], bound: Int, destinationSize: Int = Compressor.maxCompressedSize,
        file: StaticString = #filePath, line: UInt = #line
    ) -> [UInt8]? {
        var buffer = [UInt8](repeating: guardByte, count: destinationSize + guardCount)
        let size = page.withUnsafeBytes { source in
            buffer.withUnsafeMutableBytes { whole in
                compress(
                    source,
                    into: UnsafeMutableRawBufferPointer(rebasing: whole[..<destinationSize]),
                    bound: bound)
            }
        }
        let writable = max(0, min(bound, destinationSize))
        XCTAssert(
            buffer[writable...].allSatisfy { $0 == guardByte },
            "\(kind): compress wrote past its bound \(bound)", file: file, line: line)
        guard let size else { return nil }
        XCTAssert(
            size > 0 && size <= writable, "\(kind): size \(size) for bound \(bound)", file: file,
            line: line)
        return Array(buffer[..<size])
    }

    /// Decompresses `compressed` (handed over in a buffer of exactly its size)
    /// into a page followed by guard bytes.
    fileprivate func guardedDecompress(_ compressed: [UInt8]) -> Restored {
        var buffer = [UInt8](repeating: guardByte, count: pageSize + guardCount)
        let error: DecompressionError? = compressed.withUnsafeBytes { source in
            buffer.withUnsafeMutableBytes { whole in
                do throws(DecompressionError) {
                    try decompress(
                        source, into: UnsafeMutableRawBufferPointer(rebasing: whole[..<pageSize]))
                    return nil
                } catch {
                    return error
                }
            }
        }
        return Restored(
            result: error.map { .failure($0) } ?? .success(Array(buffer[..<pageSize])),
            guardIntact: buffer[pageSize...].allSatisfy { $0 == guardByte })
    }

    /// Round-trips `page` through this compressor and fails unless it comes
    /// back bit-identical. Returns the compressed size.
    @discardableResult
    fileprivate func assertRoundTrip(
        _ page: TestPage, file: StaticString = #filePath, line: UInt = #line
    ) -> Int? {
        guard let compressed = guardedCompress(page.bytes, bound: Compressor.maxCompressedSize)
        else {
            XCTFail("\(kind): \(page) did not fit the largest bound", file: file, line: line)
            return nil
        }
        let restored = guardedDecompress(compressed)
        XCTAssert(
            restored.guardIntact, "\(kind): \(page) wrote past the page", file: file, line: line)
        switch restored.result {
        case .success(let bytes):
            XCTAssert(
                bytes == page.bytes, "\(kind): \(page) came back different", file: file, line: line)
        case .failure(let error):
            XCTFail("\(kind): \(page) failed to decompress: \(error)", file: file, line: line)
        }
        return compressed.count
    }

    /// Fails unless decompressing `compressed` throws without writing past the page.
    @discardableResult
    fileprivate func assertRejects(
        _ compressed: [UInt8], _ what: @autoclosure () -> String,
        file: StaticString = #filePath, line: UInt = #line
    ) -> DecompressionError? {
        let restored = guardedDecompress(compressed)
        XCTAssert(
            restored.guardIntact, "\(kind): \(what()) wrote past the page", file: file, line: line)
        switch restored.result {
        case .success:
            XCTFail("\(kind): \(what()) was accepted", file: file, line: line)
            return nil
        case .failure(let error):
            return error
        }
    }
}

/// Runs `body(i)` for `i` in `0..<threads` on that many threads started at the
/// same moment, and returns when all have finished.
func runConcurrently(threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let ready = Atomic<Int>(0)
    let group = DispatchGroup()
    for index in 0..<threads {
        group.enter()
        let thread = Thread {
            ready.add(1, ordering: .acquiringAndReleasing)
            while ready.load(ordering: .acquiring) < threads { sched_yield() }
            body(index)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

// MARK: - Tests

final class CompressorTests: XCTestCase {
    private let compressors = CompressorKind.allCases.map { Compressor($0) }

    func testDefaultCodecIsLZ4() {
        XCTAssertEqual(Compressor().kind, .lz4)
    }

    func testRoundTripsGeneratedPages() {
        let pages = TestPages.generated()
        for compressor in compressors {
            for page in pages { compressor.assertRoundTrip(page) }
        }
    }

    func testCompressibleAndIncompressiblePagesCompressAsExpected() {
        for compressor in compressors {
            let zero = compressor.assertRoundTrip(TestPages.zero()) ?? .max
            let text = compressor.assertRoundTrip(TestPages.text(seed: 7)) ?? .max
            let structured = compressor.assertRoundTrip(TestPages.structured(seed: 7)) ?? .max
            let random = compressor.assertRoundTrip(TestPages.random(seed: 7)) ?? 0
            // A page of zeros is a few dozen bytes in every format; text and
            // records shrink well; random bytes cannot shrink at all.
            XCTAssertLessThan(zero, 64, "\(compressor.kind)")
            XCTAssertLessThan(text, pageSize * 3 / 4, "\(compressor.kind)")
            XCTAssertLessThan(structured, pageSize * 3 / 4, "\(compressor.kind)")
            XCTAssertGreaterThan(random, pageSize, "\(compressor.kind)")
        }
    }

    func testRoundTripsRealPagesFromSystemFiles() {
        let (pages, files) = TestPages.system()
        XCTAssertGreaterThanOrEqual(files, 2, "too few readable binaries on this machine")
        XCTAssertGreaterThanOrEqual(pages.count, 64)
        for compressor in compressors {
            var total = 0
            for page in pages { total += compressor.assertRoundTrip(page) ?? 0 }
            XCTAssertLessThan(total, pages.count * pageSize, "\(compressor.kind): binaries shrink")
        }
    }

    /// Our output is the codec's standard format: the C library, called
    /// directly, restores it.
    func testOutputDecodesWithTheCLibrary() {
        let pages = TestPages.generated() + TestPages.system(fileCount: 2, pagesPerFile: 8).pages
        for compressor in compressors {
            for page in pages {
                guard let compressed = compressor.guardedCompress(page.bytes, bound: pageSize * 2)
                else {
                    XCTFail("\(compressor.kind): \(page) did not compress")
                    continue
                }
                XCTAssertEqual(
                    CodecReference.decompress(
                        compressed, kind: compressor.kind, capacity: pageSize * 2),
                    page.bytes, "\(compressor.kind): \(page)")
            }
        }
    }

    /// And it restores what the C library made at other levels.
    func testDecodesCLibraryStreamsAtOtherLevels() {
        let levels: [CompressorKind: [Int32]] = [
            .lz4: [1, 8, 64], .zlib: [0, 6, 9], .zstd: [-5, 3, 19],
        ]
        let pages = TestPages.generated()
        for compressor in compressors {
            for level in levels[compressor.kind] ?? [] {
                for page in pages {
                    let compressed = CodecReference.compress(
                        page.bytes, kind: compressor.kind, level: level)
                    let restored = compressor.guardedDecompress(compressed)
                    XCTAssert(restored.guardIntact)
                    XCTAssertEqual(
                        try restored.result.get(), page.bytes,
                        "\(compressor.kind) level \(level): \(page)")
                }
            }
        }
    }

    // MARK: The bound

    func testRandomPagesDoNotCompressBelowTheBound() {
        for compressor in compressors {
            for seed in UInt64(1)...8 {
                let page = TestPages.random(seed: seed)
                for bound in [4000, pageSize - 1, 2048, 512, 64, 16, 1] {
                    XCTAssertNil(
                        compressor.guardedCompress(page.bytes, bound: bound),
                        "\(compressor.kind): \(page) under bound \(bound)")
                }
            }
        }
    }

    func testSmallBoundsRefuseCompressiblePagesThatDoNotFit() {
        for compressor in compressors {
            for page in [TestPages.text(seed: 3), TestPages.structured(seed: 3)] {
                for bound in [1, 8, 64] {
                    XCTAssertNil(
                        compressor.guardedCompress(page.bytes, bound: bound),
                        "\(compressor.kind): \(page) under bound \(bound)")
                }
            }
            // Nothing fits in no room at all.
            for bound in [0, -1, Int.min] {
                XCTAssertNil(compressor.guardedCompress(TestPages.zero().bytes, bound: bound))
            }
        }
    }

    /// A page fits a bound equal to its compressed size (with the same bytes)
    /// and not one byte less; a destination smaller than the bound is the bound.
    func testBoundIsInclusiveAndDestinationSizeLimitsIt() {
        let pages = [TestPages.zero(), TestPages.text(seed: 4), TestPages.structured(seed: 4)]
        for compressor in compressors {
            for page in pages {
                guard let full = compressor.guardedCompress(page.bytes, bound: pageSize) else {
                    XCTFail("\(compressor.kind): \(page) did not compress")
                    continue
                }
                let atOwnSize = compressor.guardedCompress(page.bytes, bound: full.count)
                XCTAssertEqual(
                    atOwnSize?.count, full.count, "\(compressor.kind): \(page) at its own size")
                XCTAssert(atOwnSize == full, "\(compressor.kind): \(page) at its own size")
                XCTAssertNil(
                    compressor.guardedCompress(page.bytes, bound: full.count - 1),
                    "\(compressor.kind): \(page) one byte under its size")
                XCTAssertNil(
                    compressor.guardedCompress(
                        page.bytes, bound: 4000, destinationSize: full.count - 1),
                    "\(compressor.kind): \(page) into a too-small destination")
                let intoOwnSize = compressor.guardedCompress(
                    page.bytes, bound: 4000, destinationSize: full.count)
                XCTAssertEqual(
                    intoOwnSize?.count, full.count,
                    "\(compressor.kind): \(page) into a destination of its size")
                XCTAssert(
                    intoOwnSize == full,
                    "\(compressor.kind): \(page) into a destination of its size")
            }
        }
    }

    // MARK: Bad compressed input

    /// Pages whose compressed forms the corruption tests damage.
    private func victims() -> [TestPage] {
        [
            TestPages.zero(), TestPages.text(seed: 11), TestPages.structured(seed: 11),
            TestPages.random(seed: 11),
        ] + TestPages.system(fileCount: 1, pagesPerFile: 4).pages
    }

    func testEveryTruncationIsAnError() {
        for compressor in compressors {
            for page in victims() {
                guard let compressed = compressor.guardedCompress(page.bytes, bound: pageSize * 2)
                else { continue }
                for length in 0..<compressed.count {
                    compressor.assertRejects(
                        Array(compressed.prefix(length)), "\(page) cut to \(length) bytes")
                }
            }
            XCTAssertEqual(
                compressor.guardedDecompress([]).result.failureValue,
                .corruptInput(compressor.kind))
        }
    }

    /// Random bit flips: the codecs carry no checksum, so a flip inside a
    /// literal can decode to a different, valid page, but no flip may crash or
    /// write past the page, and flips that break the stream's structure are
    /// reported.
    func testBitFlipsNeverCrashOrOverrun() {
        var rng = SeededGenerator(seed: 0xF11D)
        for compressor in compressors {
            var detected = 0
            var trials = 0
            for page in victims() {
                guard let compressed = compressor.guardedCompress(page.bytes, bound: pageSize * 2)
                else { continue }
                for flips in [1, 2, 8, 32] {
                    for _ in 0..<60 {
                        var damaged = compressed
                        for _ in 0..<flips {
                            let bit = Int.random(in: 0..<(damaged.count * 8), using: &rng)
                            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
                        }
                        let restored = compressor.guardedDecompress(damaged)
                        XCTAssert(restored.guardIntact, "\(compressor.kind): \(page) flipped")
                        trials += 1
                        if case .failure = restored.result { detected += 1 }
                    }
                }
            }
            XCTAssertGreaterThan(detected, trials / 10, "\(compressor.kind): too few flips caught")
        }
    }

    /// Damage to the stream's structure is always reported: zstd's magic
    /// number, deflate's block type, an LZ4 match reaching before the page.
    func testStructuralCorruptionIsAnError() {
        for compressor in compressors {
            for page in [
                TestPages.zero(), TestPages.text(seed: 12), TestPages.structured(seed: 12),
            ] {
                guard let compressed = compressor.guardedCompress(page.bytes, bound: pageSize)
                else {
                    XCTFail("\(compressor.kind): \(page) did not compress")
                    continue
                }
                var cases: [(String, [UInt8])] = []
                switch compressor.kind {
                case .zstd:
                    for bit in 0..<32 {
                        var damaged = compressed
                        damaged[bit / 8] ^= 1 << UInt8(bit % 8)
                        cases.append(("magic bit \(bit) flipped", damaged))
                    }
                case .zlib:
                    var damaged = compressed
                    damaged[0] |= 0b110  // BTYPE 11: reserved
                    cases.append(("reserved block type", damaged))
                case .lz4:
                    // The first sequence: token, literal-length bytes, literals, then
                    // the match offset; point the match 65535 bytes back.
                    var position = 1
                    var literals = Int(compressed[0] >> 4)
                    if literals == 15 {
                        while compressed[position] == 255 {
                            literals += 255
                            position += 1
                        }
                        literals += Int(compressed[position])
                        position += 1
                    }
                    position += literals
                    guard position + 1 < compressed.count else {
                        XCTFail("\(page): no match in the LZ4 block")
                        continue
                    }
                    var damaged = compressed
                    damaged[position] = 0xFF
                    damaged[position + 1] = 0xFF
                    cases.append(("match offset before the page", damaged))
                }
                for (what, damaged) in cases {
                    XCTAssertEqual(
                        compressor.assertRejects(damaged, "\(page): \(what)"),
                        .corruptInput(compressor.kind), "\(page): \(what)")
                }
            }
        }
    }

    func testRandomGarbageIsAnError() {
        for compressor in compressors {
            for seed in UInt64(1)...300 {
                let length = Int(seed * 37 % 5000) + 1
                compressor.assertRejects(
                    TestPages.randomBytes(count: length, seed: seed),
                    "\(length) random bytes (seed \(seed))")
            }
            // Garbage behind a valid stream's first bytes.
            guard
                let valid = compressor.guardedCompress(
                    TestPages.text(seed: 13).bytes, bound: pageSize)
            else { continue }
            for seed in UInt64(1)...50 {
                let garbage =
                    Array(valid.prefix(Int(seed % 8) + 1))
                    + TestPages.randomBytes(count: 300, seed: seed)
                compressor.assertRejects(garbage, "valid header then garbage (seed \(seed))")
            }
        }
    }

    /// Streams that decode to more or less than one page, and a page's stream
    /// followed by stray bytes, are errors that never write past the page.
    func testOversizedAndUndersizedStreamsAreErrors() {
        let levels: [CompressorKind: Int32] = [.lz4: 1, .zlib: 1, .zstd: 1]
        for compressor in compressors {
            let kind = compressor.kind
            let level = levels[kind] ?? 1
            for size in [pageSize + 1, pageSize * 2, pageSize * 16] {
                for input in [
                    TestPages.textBytes(count: size, seed: 14), [UInt8](repeating: 0, count: size),
                    TestPages.randomBytes(count: size, seed: 14),
                ] {
                    let stream = CodecReference.compress(input, kind: kind, level: level)
                    let error = compressor.assertRejects(stream, "a stream of \(size) bytes")
                    switch (kind, error) {
                    case (.lz4, .corruptInput(.lz4)): break  // LZ4 only says "does not fit"
                    case (.zlib, .wrongDecompressedSize(let n)),
                        (.zstd, .wrongDecompressedSize(let n)):
                        XCTAssertGreaterThan(n, pageSize, "\(kind): \(size) bytes")
                    default: XCTFail("\(kind): \(size) bytes gave \(String(describing: error))")
                    }
                }
            }
            for size in [1, pageSize / 2, pageSize - 1] {
                let stream = CodecReference.compress(
                    TestPages.textBytes(count: size, seed: 15), kind: kind, level: level)
                XCTAssertEqual(
                    compressor.assertRejects(stream, "a stream of \(size) bytes"),
                    .wrongDecompressedSize(size), "\(kind)")
            }
            for page in [TestPages.zero(), TestPages.text(seed: 16), TestPages.random(seed: 16)] {
                guard let valid = compressor.guardedCompress(page.bytes, bound: pageSize * 2)
                else { continue }
                for extra in [1, 3, 7, 64, 4096] {
                    compressor.assertRejects(
                        valid + TestPages.randomBytes(count: extra, seed: UInt64(extra)),
                        "\(page) with \(extra) stray bytes")
                    compressor.assertRejects(
                        valid + [UInt8](repeating: 0, count: extra), "\(page) with \(extra) zeros")
                }
            }
        }
    }

    // MARK: Bad destinations

    func testDestinationThatIsNotOnePageIsAnError() {
        for compressor in compressors {
            guard
                let compressed = compressor.guardedCompress(
                    TestPages.text(seed: 17).bytes, bound: pageSize)
            else {
                XCTFail("\(compressor.kind): text did not compress")
                continue
            }
            for size in [0, 1, pageSize - 1, pageSize + 1, pageSize * 2] {
                var destination = [UInt8](repeating: guardByte, count: size)
                XCTAssertThrowsError(
                    try compressed.withUnsafeBytes { source in
                        try destination.withUnsafeMutableBytes {
                            try compressor.decompress(source, into: $0)
                        }
                    }
                ) { error in
                    XCTAssertEqual(error as? DecompressionError, .destinationNotOnePage(size))
                }
                XCTAssert(
                    destination.allSatisfy { $0 == guardByte }, "\(compressor.kind): wrote \(size)")
            }
        }
    }

    // MARK: Context reuse

    /// One thread reusing a compressor creates one context per direction and
    /// no more, however many pages go through.
    func testSequentialUseKeepsOneContextPerDirection() {
        let pages = TestPages.generated()
        for kind in CompressorKind.allCases {
            let compressor = Compressor(kind)
            let before = compressor.idleContextCounts
            for _ in 0..<20 {
                for page in pages { compressor.assertRoundTrip(page) }
                // A failing decompression returns its context too.
                compressor.assertRejects([1, 2, 3], "three bytes")
            }
            let after = compressor.idleContextCounts
            switch kind {
            case .lz4:
                XCTAssertNil(before)
                XCTAssertNil(after)
            case .zlib, .zstd:
                XCTAssertEqual(before?.compress, 0, "\(kind)")
                XCTAssertEqual(before?.decompress, 0, "\(kind)")
                XCTAssertEqual(after?.compress, 1, "\(kind)")
                XCTAssertEqual(after?.decompress, 1, "\(kind)")
            }
        }
    }

    /// Nested users on one thread each get their own context; the pool keeps
    /// them all and destroys every one when it goes away.
    func testContextPoolDestroysWhatItMade() {
        let made = Atomic<Int>(0)
        let destroyed = LockedValue<[Int]>([])
        func useNested() {
            let pool = CodecContextPool<Int>(
                make: { made.add(1, ordering: .relaxed).newValue },
                destroy: { context in destroyed.withLock { $0.append(context) } })
            pool.withContext { a in
                pool.withContext { b in
                    pool.withContext { c in XCTAssertEqual(Set([a, b, c]).count, 3) }
                }
            }
            for _ in 0..<10 { pool.withContext { _ in } }
            XCTAssertEqual(pool.idleCount, 3)
            XCTAssertEqual(destroyed.withLock { $0 }, [])
        }
        useNested()
        XCTAssertEqual(made.load(ordering: .relaxed), 3)
        XCTAssertEqual(destroyed.withLock { $0.sorted() }, [1, 2, 3])
    }
}

extension Result {
    fileprivate var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

// MARK: - Concurrency

/// One compressor shared by several threads, each round-tripping its own pages.
/// Also the context pool under contention. CI runs these under the thread sanitizer.
final class CompressorStressTests: XCTestCase {
    private func shareOneCompressor(threads: Int, roundTrips: Int) {
        for kind in CompressorKind.allCases {
            let compressor = Compressor(kind)
            let failures = LockedValue<[String]>([])
            runConcurrently(threads: threads) { index in
                let seed = UInt64(index + 1) * 1000
                let pages = [
                    TestPages.text(seed: seed), TestPages.structured(seed: seed),
                    TestPages.random(seed: seed), TestPages.zero(),
                ]
                var compressed = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
                var restored = [UInt8](repeating: 0, count: pageSize)
                for round in 0..<roundTrips {
                    let page = pages[round % pages.count]
                    let size = page.bytes.withUnsafeBytes { source in
                        compressed.withUnsafeMutableBytes {
                            compressor.compress(
                                source, into: $0, bound: Compressor.maxCompressedSize)
                        }
                    }
                    guard let size else {
                        failures.withLock { $0.append("thread \(index): \(page) did not compress") }
                        return
                    }
                    do {
                        try compressed.withUnsafeBytes { whole in
                            try restored.withUnsafeMutableBytes { destination in
                                try compressor.decompress(
                                    UnsafeRawBufferPointer(rebasing: whole[..<size]),
                                    into: destination)
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("thread \(index): \(page): \(error)") }
                        return
                    }
                    if restored != page.bytes {
                        failures.withLock {
                            $0.append("thread \(index): \(page) came back different")
                        }
                        return
                    }
                }
            }
            XCTAssertEqual(failures.withLock { $0 }, [], "\(kind)")
            if let counts = compressor.idleContextCounts {
                // Every context is back, and there are no more than users.
                XCTAssert((1...threads).contains(counts.compress), "\(kind): \(counts)")
                XCTAssert((1...threads).contains(counts.decompress), "\(kind): \(counts)")
            }
        }
    }

    /// The pool makes a context only when every one it has is in use: its size
    /// is the peak number of simultaneous users.
    func testContextPoolGrowsOnlyToPeakConcurrency() {
        let made = Atomic<Int>(0)
        let pool = CodecContextPool<Int>(
            make: { made.add(1, ordering: .relaxed).newValue }, destroy: { _ in })
        XCTAssertEqual(pool.idleCount, 0)
        for _ in 0..<100 { pool.withContext { _ in } }
        XCTAssertEqual(made.load(ordering: .relaxed), 1)
        XCTAssertEqual(pool.idleCount, 1)

        // Four threads inside at once need four contexts, all different.
        let inside = Atomic<Int>(0)
        let seen = LockedValue<Set<Int>>([])
        runConcurrently(threads: 4) { _ in
            pool.withContext { context in
                seen.withLock { _ = $0.insert(context) }
                inside.add(1, ordering: .acquiringAndReleasing)
                while inside.load(ordering: .acquiring) < 4 { sched_yield() }
            }
        }
        XCTAssertEqual(seen.withLock { $0.count }, 4)
        XCTAssertEqual(made.load(ordering: .relaxed), 4)
        XCTAssertEqual(pool.idleCount, 4)

        // Fewer users after that make nothing new.
        runConcurrently(threads: 2) { _ in
            for _ in 0..<1000 { pool.withContext { _ in } }
        }
        XCTAssertEqual(made.load(ordering: .relaxed), 4)
        XCTAssertEqual(pool.idleCount, 4)
    }

    func testTwoThreadsShareOneCompressor() {
        shareOneCompressor(threads: 2, roundTrips: 2000)
    }

    func testFourThreadsShareOneCompressor() {
        shareOneCompressor(threads: 4, roundTrips: 1000)
    }
}
