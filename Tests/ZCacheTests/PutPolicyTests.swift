// One test per rule of zcache's put policy (zcache_pampd_{eph,pers}_create,
// zcache_put_page, the cleancache/frontswap wrappers), each checking the
// counter the kernel bumps for it, and that frames are accounted for.

import XCTest

@testable import ZCache

final class PutPolicyTests: XCTestCase {
    // MARK: compress_poor

    func testEphemeralRefusesAbove4000Bytes() throws {
        let cache = CoreTestSupport.cache(pageframes: 8)
        let fs = try cache.cleancacheInitFilesystem()
        let random = TestPages.random(seed: 1).bytes
        XCTAssertNil(CoreTestSupport.zsize(random).flatMap { $0 <= 4000 ? $0 : nil })
        XCTAssertFalse(try cache.put(fs, file: 1, index: 0, random))
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.compressPoor, 1)
        XCTAssertEqual(stats.zcache.failedEphPuts, 1)
        XCTAssertEqual(stats.zcache.ephZPages, 0)
        XCTAssertEqual(stats.framePool.framesInUse, 0)

        // Just above the bud limit: refused; just under it: stored (ephemeral
        // pages between 3584 and 4000 are fine, unlike persistent ones).
        let over = CoreTestSupport.page(compressingTo: 4001...4090, seed: 2)
        XCTAssertFalse(try cache.put(fs, file: 1, index: 1, over))
        let under = CoreTestSupport.page(compressingTo: 3900...4000, seed: 3)
        XCTAssertTrue(try cache.put(fs, file: 1, index: 2, under))
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.compressPoor, 2)
        XCTAssertEqual(stats.zcache.failedEphPuts, 2)
        XCTAssertEqual(stats.zcache.ephZPages, 1)
        XCTAssertEqual(stats.zcache.ephPageframes, 1)
        XCTAssertEqual(digest(try cache.get(fs, file: 1, index: 2)), digest(under))
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 1)))
        cache.assertConsistent()
    }

    func testPersistentRefusesAbove3584Bytes() throws {
        let cache = CoreTestSupport.cache(pageframes: 8)
        try cache.frontswapInit(type: 0)
        XCTAssertEqual(
            try cache.store(offset: 1, TestPages.random(seed: 4).bytes), .rejected(.compressPoor))
        let over = CoreTestSupport.page(compressingTo: 3585...4000, seed: 5)
        XCTAssertEqual(try cache.store(offset: 2, over), .rejected(.compressPoor))
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.compressPoor, 2)
        XCTAssertEqual(stats.zcache.failedPersPuts, 2)
        XCTAssertEqual(stats.zcache.meanCompressPoor, 0)
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        // At or under 7/8 of a page, with no persistent page yet (no mean): stored.
        let under = CoreTestSupport.page(compressingTo: 3480...3584, seed: 6)
        XCTAssertEqual(try cache.store(offset: 3, under), .stored)
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.compressPoor, 2)
        XCTAssertEqual(stats.zcache.persZPages, 1)
        XCTAssertEqual(digest(try cache.load(offset: 3)), digest(under))
        XCTAssertNil(digest(try cache.load(offset: 2)))
        cache.assertConsistent()
    }

    // MARK: mean_compress_poor

    func testPersistentRefusesAbove2560WhileMeanIsAbove2560() throws {
        let cache = CoreTestSupport.cache(pageframes: 64)
        try cache.frontswapInit(type: 0)
        // The first poor page is taken: there is no mean yet.
        let poor = CoreTestSupport.page(compressingTo: 3000...3300, seed: 7)
        XCTAssertEqual(try cache.store(offset: 0, poor), .stored)
        var stats = cache.statistics
        XCTAssertGreaterThan(stats.zcache.persZBytes / stats.zcache.persZPages, 2560)
        // Mean above 2560: a page above 2560 is refused...
        let fair = CoreTestSupport.page(compressingTo: 2600...2900, seed: 8)
        XCTAssertEqual(try cache.store(offset: 1, fair), .rejected(.meanCompressPoor))
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.meanCompressPoor, 1)
        XCTAssertEqual(stats.zcache.compressPoor, 0)
        XCTAssertEqual(stats.zcache.failedPersPuts, 1)
        // ...one at 2560 or below is not.
        let small = TestPages.text(seed: 9).bytes
        XCTAssertLessThanOrEqual(CoreTestSupport.zsize(small) ?? .max, 2560)
        XCTAssertEqual(try cache.store(offset: 2, small), .stored)
        let justUnder = CoreTestSupport.page(compressingTo: 2400...2560, seed: 10)
        XCTAssertEqual(try cache.store(offset: 3, justUnder), .stored)
        // Once enough good pages pull the mean under 2560, a fair page is taken again.
        var offset: UInt64 = 10
        while true {
            stats = cache.statistics
            if stats.zcache.persZBytes / stats.zcache.persZPages <= 2560 { break }
            XCTAssertEqual(
                try cache.store(offset: offset, TestPages.structured(seed: offset).bytes), .stored)
            offset += 1
        }
        XCTAssertEqual(try cache.store(offset: 1, fair), .stored)
        XCTAssertEqual(cache.statistics.zcache.meanCompressPoor, 1)
        XCTAssertEqual(digest(try cache.load(offset: 0)), digest(poor))
        XCTAssertEqual(digest(try cache.load(offset: 1)), digest(fair))
        cache.assertConsistent()
    }

    // MARK: eviction: eph_ate_tail, pers_ate_eph and their failures

    func testEphemeralPutEvictsTheLRUEphemeralFrame() throws {
        let frames = 4
        let cache = CoreTestSupport.cache(pageframes: frames)
        let fs = try cache.cleancacheInitFilesystem()
        let pages = (0..<UInt64(frames + 2)).map { CoreTestSupport.wholeFramePage(seed: 100 + $0) }
        for index in 0..<frames {
            XCTAssertTrue(try cache.put(fs, file: 1, index: UInt32(index), pages[index]))
        }
        XCTAssertEqual(cache.statistics.zcache.ephAteTail, 0)
        XCTAssertEqual(cache.statistics.framePool.framesInUse, frames)
        // The pool is empty: the next put takes the least recently used frame.
        XCTAssertTrue(try cache.put(fs, file: 1, index: UInt32(frames), pages[frames]))
        let stats = cache.statistics
        XCTAssertEqual(stats.zcache.ephAteTail, 1)
        XCTAssertEqual(stats.zcache.failedAlloc, 1)
        XCTAssertEqual(stats.zcache.evictedEphPageframes, 1)
        XCTAssertEqual(stats.zcache.evictedEphZPages, 1)
        XCTAssertEqual(stats.zcache.ephPageframes, frames)
        XCTAssertEqual(stats.zcache.ephZPages, frames)
        XCTAssertEqual(stats.framePool.framesInUse, frames)
        cache.assertConsistent()
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 0)), "the LRU page was evicted")
        for index in 1...frames {
            XCTAssertEqual(
                digest(try cache.get(fs, file: 1, index: UInt32(index))), digest(pages[index]))
        }
        cache.assertConsistent()
    }

    func testEphemeralPutFailsWhenNoEphemeralFrameCanBeEaten() throws {
        let cache = CoreTestSupport.cache(pageframes: 2)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        XCTAssertEqual(try cache.store(offset: 0, CoreTestSupport.wholeFramePage(seed: 1)), .stored)
        XCTAssertEqual(try cache.store(offset: 1, CoreTestSupport.wholeFramePage(seed: 2)), .stored)
        XCTAssertFalse(
            try cache.put(fs, file: 1, index: 0, CoreTestSupport.wholeFramePage(seed: 3)))
        let stats = cache.statistics
        XCTAssertEqual(stats.zcache.ephAteTailFailed, 1)
        XCTAssertEqual(stats.zcache.ephAteTail, 0)
        XCTAssertEqual(stats.zcache.failedEphPuts, 1)
        XCTAssertEqual(stats.zcache.failedAlloc, 1)
        XCTAssertEqual(stats.zcache.persZPages, 2)
        cache.assertConsistent()
    }

    func testPersistentStoreEatsAnEphemeralFrame() throws {
        let frames = 4
        let cache = CoreTestSupport.cache(pageframes: frames)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        for index in 0..<frames {
            let page = CoreTestSupport.wholeFramePage(seed: 200 + UInt64(index))
            XCTAssertTrue(try cache.put(fs, file: 7, index: UInt32(index), page))
        }
        let swapped = CoreTestSupport.wholeFramePage(seed: 300)
        XCTAssertEqual(try cache.store(offset: 42, swapped), .stored)
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.persAteEph, 1)
        XCTAssertEqual(stats.zcache.evictedEphPageframes, 1)
        XCTAssertEqual(stats.zcache.ephPageframes, frames - 1)
        XCTAssertEqual(stats.zcache.persPageframes, 1)
        cache.assertConsistent()
        XCTAssertNil(
            digest(try cache.get(fs, file: 7, index: 0)), "the LRU ephemeral page was eaten")

        // Every frame persistent: the next store has nothing to eat and fails,
        // and the caller is told to write the page to swap.
        for offset in 43..<UInt64(43 + frames - 1) {
            XCTAssertEqual(
                try cache.store(offset: offset, CoreTestSupport.wholeFramePage(seed: offset)),
                .stored)
        }
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.persPageframes, frames)
        XCTAssertEqual(stats.zcache.ephPageframes, 0)
        XCTAssertEqual(stats.zcache.persAteEph, frames)
        let last = CoreTestSupport.wholeFramePage(seed: 999)
        XCTAssertEqual(try cache.store(offset: 1000, last), .rejected(.noMemory))
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.persAteEphFailed, 1)
        XCTAssertEqual(stats.zcache.failedPersPuts, 1)
        XCTAssertNil(digest(try cache.load(offset: 1000)))
        XCTAssertEqual(digest(try cache.load(offset: 42)), digest(swapped))
        cache.assertConsistent()
    }

    func testPersistentStorePairsBeforeEating() throws {
        let cache = CoreTestSupport.cache(pageframes: 2)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        // One persistent frame with room for a second small page, one ephemeral frame.
        let first = CoreTestSupport.page(compressingTo: 900...1100, seed: 1)
        XCTAssertEqual(try cache.store(offset: 0, first), .stored)
        XCTAssertTrue(try cache.put(fs, file: 1, index: 0, CoreTestSupport.wholeFramePage(seed: 5)))
        let second = CoreTestSupport.page(compressingTo: 900...1100, seed: 2)
        XCTAssertEqual(try cache.store(offset: 1, second), .stored)
        let stats = cache.statistics
        XCTAssertEqual(stats.zcache.persAteEph, 0)
        XCTAssertEqual(stats.zcache.persPageframes, 1)
        XCTAssertEqual(stats.zbud.persBuddiedCount, 1)
        XCTAssertNotNil(digest(try cache.get(fs, file: 1, index: 0)))
        cache.assertConsistent()
    }

    // MARK: not-active filters

    func testNonActivePutsAreIgnoredUnlessTheFilterIsOff() throws {
        let page = TestPages.text(seed: 3).bytes
        let cache = CoreTestSupport.cache(pageframes: 8)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        XCTAssertFalse(try cache.put(fs, file: 1, index: 0, page, wasActive: false))
        XCTAssertEqual(try cache.store(offset: 0, page, wasActive: false), .rejected(.nonActive))
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.ephNonactivePutsIgnored, 1)
        XCTAssertEqual(stats.zcache.persNonactivePutsIgnored, 1)
        XCTAssertEqual(stats.zcache.failedEphPuts + stats.zcache.failedPersPuts, 0)
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 0)))
        XCTAssertNil(digest(try cache.load(offset: 0)))
        // The client/pool API has no filter.
        let pool = try cache.newPool(client: cache.newClient(), kind: .persistent)
        let key = TMemKey(pool: pool, object: ObjectID(1), index: 0)
        XCTAssertEqual(try page.withUnsafeBytes { try cache.put(key, page: $0) }, .stored)

        for (ephemeralFilter, persistentFilter) in [(false, true), (true, false), (false, false)] {
            let open = CoreTestSupport.cache(pageframes: 8) {
                $0.ignoreNonActiveEphemeralPuts = ephemeralFilter
                $0.ignoreNonActivePersistentPuts = persistentFilter
            }
            try open.frontswapInit(type: 0)
            let fs = try open.cleancacheInitFilesystem()
            XCTAssertEqual(
                try open.put(fs, file: 1, index: 0, page, wasActive: false), !ephemeralFilter)
            XCTAssertEqual(
                try open.store(offset: 0, page, wasActive: false).isStored, !persistentFilter)
            stats = open.statistics
            XCTAssertEqual(stats.zcache.ephNonactivePutsIgnored, ephemeralFilter ? 1 : 0)
            XCTAssertEqual(stats.zcache.persNonactivePutsIgnored, persistentFilter ? 1 : 0)
            XCTAssertEqual(
                digest(try open.get(fs, file: 1, index: 0)), digest(ephemeralFilter ? nil : page))
            XCTAssertEqual(digest(try open.load(offset: 0)), digest(persistentFilter ? nil : page))
            open.assertConsistent()
        }
    }

    // MARK: put_to_flush

    func testFrozenPutsFlushTheKey() throws {
        let cache = CoreTestSupport.cache(pageframes: 8)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        let old = TestPages.text(seed: 1).bytes
        let new = TestPages.text(seed: 2).bytes
        XCTAssertEqual(try cache.store(offset: 5, old), .stored)
        XCTAssertTrue(try cache.put(fs, file: 3, index: 5, old))
        XCTAssertEqual(try cache.store(offset: 6, old), .stored)
        cache.freeze()
        XCTAssertTrue(cache.isFrozen)
        XCTAssertEqual(try cache.store(offset: 5, new), .rejected(.frozen))
        XCTAssertFalse(try cache.put(fs, file: 3, index: 5, new))
        XCTAssertEqual(try cache.store(offset: 7, new), .rejected(.frozen))
        // The not-active filter sits in the front ends, before zcache_put_page's
        // freeze check: such a put is counted as ignored, not as put_to_flush.
        XCTAssertEqual(try cache.store(offset: 8, new, wasActive: false), .rejected(.nonActive))
        XCTAssertFalse(try cache.put(fs, file: 3, index: 8, new, wasActive: false))
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.persNonactivePutsIgnored, 1)
        XCTAssertEqual(stats.zcache.ephNonactivePutsIgnored, 1)
        XCTAssertEqual(stats.zcache.putToFlush, 3)
        XCTAssertEqual(stats.zcache.persZPages, 1, "only offset 6, which no frozen put touched")
        XCTAssertEqual(stats.zcache.ephZPages, 0)
        XCTAssertEqual(stats.zcache.failedPersPuts + stats.zcache.failedEphPuts, 0)
        // Gets still work while frozen.
        XCTAssertNil(digest(try cache.load(offset: 5)))
        XCTAssertNil(digest(try cache.get(fs, file: 3, index: 5)))
        XCTAssertEqual(digest(try cache.load(offset: 6)), digest(old))
        cache.unfreeze()
        XCTAssertEqual(try cache.store(offset: 5, new), .stored)
        XCTAssertEqual(digest(try cache.load(offset: 5)), digest(new))
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.putToFlush, 3)
        cache.assertConsistent()
        XCTAssertEqual(stats.framePool.framesInUse, 0)
    }

    // MARK: zero_filled_pages

    func testZeroFilledPagesTakeNoFrame() throws {
        let cache = CoreTestSupport.cache(pageframes: 1)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        let zero = TestPages.zero().bytes
        for offset in 0..<UInt64(100) {
            XCTAssertEqual(try cache.store(offset: offset, zero), .storedZeroFilled)
        }
        XCTAssertTrue(try cache.put(fs, file: 1, index: 0, zero))
        // A zero page over a zero page is still one page (it once counted two).
        XCTAssertEqual(try cache.store(offset: 5, zero), .storedZeroFilled)
        XCTAssertTrue(try cache.put(fs, file: 1, index: 0, zero))
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.zeroFilledPages, 101)
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        XCTAssertEqual(stats.zcache.persPageframes + stats.zcache.ephPageframes, 0)
        XCTAssertEqual(stats.zcache.persZPages + stats.zcache.ephZPages, 0)
        // A page that is zero but for its last byte is not zero-filled.
        var almost = zero
        almost[pageSize - 1] = 1
        XCTAssertEqual(try cache.store(offset: 100, almost), .stored)
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 1)
        XCTAssertEqual(digest(try cache.load(offset: 0)), digest(zero))
        XCTAssertEqual(digest(try cache.get(fs, file: 1, index: 0)), digest(zero))
        XCTAssertEqual(digest(try cache.load(offset: 100)), digest(almost))
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.zeroFilledPages, 99)
        XCTAssertEqual(stats.zcache.zeroFilledPagesMax, 101)
        // Overwriting a zero page with a real one and back.
        XCTAssertEqual(try cache.store(offset: 1, almost), .stored)
        XCTAssertEqual(try cache.store(offset: 1, zero), .storedZeroFilled)
        XCTAssertEqual(cache.statistics.zcache.zeroFilledPages, 99)
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        try cache.frontswapInvalidateArea(type: 0)
        XCTAssertEqual(cache.statistics.zcache.zeroFilledPages, 0)
        cache.assertConsistent()
    }

    // MARK: exclusive gets

    func testExclusiveGetsRemoveThePage() throws {
        let cache = CoreTestSupport.cache(pageframes: 8)
        try cache.frontswapInit(type: 0)
        let page = TestPages.structured(seed: 1).bytes
        XCTAssertEqual(try cache.store(offset: 9, page), .stored)
        XCTAssertEqual(digest(try cache.load(offset: 9)), digest(page))
        XCTAssertNil(digest(try cache.load(offset: 9)))
        let stats = cache.statistics
        XCTAssertEqual(stats.zcache.persZPages, 0)
        XCTAssertEqual(stats.zcache.persGets, 2)
        XCTAssertEqual(stats.zcache.persGetHits, 1)
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        cache.assertConsistent()
    }

    func testNonExclusiveGetsKeepPersistentPagesOnly() throws {
        let cache = CoreTestSupport.cache(pageframes: 8) { $0.exclusiveGets = false }
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        let page = TestPages.structured(seed: 2).bytes
        XCTAssertEqual(try cache.store(offset: 9, page), .stored)
        XCTAssertTrue(try cache.put(fs, file: 1, index: 9, page))
        for _ in 0..<3 { XCTAssertEqual(digest(try cache.load(offset: 9)), digest(page)) }
        XCTAssertEqual(cache.statistics.zcache.persZPages, 1)
        // Ephemeral gets always remove.
        XCTAssertEqual(digest(try cache.get(fs, file: 1, index: 9)), digest(page))
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 9)))
        try cache.frontswapInvalidatePage(type: 0, offset: 9)
        XCTAssertNil(digest(try cache.load(offset: 9)))
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        cache.assertConsistent()
    }

    // MARK: a refused put leaves no stale page

    func testARefusedPutFlushesTheOldCopy() throws {
        let cache = CoreTestSupport.cache(pageframes: 2)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        // Small enough to share a frame with any other page here.
        let old = CoreTestSupport.page(compressingTo: 400...500, seed: 11)
        let poor = TestPages.random(seed: 12).bytes
        // compress_poor
        XCTAssertEqual(try cache.store(offset: 1, old), .stored)
        XCTAssertEqual(try cache.store(offset: 1, poor), .rejected(.compressPoor))
        XCTAssertNil(digest(try cache.load(offset: 1)))
        XCTAssertTrue(try cache.put(fs, file: 1, index: 1, old))
        XCTAssertFalse(try cache.put(fs, file: 1, index: 1, poor))
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 1)))
        // not active
        XCTAssertEqual(try cache.store(offset: 2, old), .stored)
        XCTAssertEqual(try cache.store(offset: 2, poor, wasActive: false), .rejected(.nonActive))
        XCTAssertNil(digest(try cache.load(offset: 2)))
        XCTAssertTrue(try cache.put(fs, file: 1, index: 2, old))
        XCTAssertFalse(try cache.put(fs, file: 1, index: 2, old, wasActive: false))
        XCTAssertNil(digest(try cache.get(fs, file: 1, index: 2)))
        // mean_compress_poor: the old copy is itself the only (poor) persistent page
        let bad = CoreTestSupport.page(compressingTo: 3300...3500, seed: 13)
        XCTAssertEqual(try cache.store(offset: 3, bad), .stored)
        let fair = CoreTestSupport.page(compressingTo: 2700...3000, seed: 14)
        XCTAssertEqual(try cache.store(offset: 3, fair), .rejected(.meanCompressPoor))
        XCTAssertNil(digest(try cache.load(offset: 3)))
        // no memory: both frames persistent, the old copy sits in one of them
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        XCTAssertEqual(try cache.store(offset: 4, bad), .stored)
        XCTAssertEqual(
            try cache.store(offset: 5, CoreTestSupport.wholeFramePage(seed: 15)), .stored)
        XCTAssertEqual(try cache.store(offset: 6, old), .stored)
        let other = CoreTestSupport.page(compressingTo: 2300...2500, seed: 16)
        XCTAssertEqual(try cache.store(offset: 6, other), .rejected(.noMemory))
        XCTAssertNil(digest(try cache.load(offset: 6)))
        XCTAssertEqual(digest(try cache.load(offset: 4)), digest(bad))
        let stats = cache.statistics
        XCTAssertEqual(stats.zcache.compressPoor, 2)
        XCTAssertEqual(stats.zcache.meanCompressPoor, 1)
        XCTAssertEqual(stats.zcache.persAteEphFailed, 1)
        cache.assertConsistent()
    }

    func testDuplicatePutReplacesThePage() throws {
        let cache = CoreTestSupport.cache(pageframes: 4)
        try cache.frontswapInit(type: 0)
        let fs = try cache.cleancacheInitFilesystem()
        let first = TestPages.text(seed: 21).bytes
        let second = TestPages.structured(seed: 22).bytes
        XCTAssertEqual(try cache.store(offset: 1, first), .stored)
        XCTAssertEqual(try cache.store(offset: 1, second), .stored)
        XCTAssertEqual(try cache.store(offset: 2, first), .stored)
        XCTAssertEqual(try cache.store(offset: 2, TestPages.zero().bytes), .storedZeroFilled)
        XCTAssertTrue(try cache.put(fs, file: 1, index: 0, first))
        XCTAssertTrue(try cache.put(fs, file: 1, index: 0, second))
        XCTAssertEqual(cache.statistics.zcache.persZPages, 1)
        XCTAssertEqual(cache.statistics.zcache.ephZPages, 1)
        XCTAssertEqual(digest(try cache.load(offset: 1)), digest(second))
        XCTAssertEqual(digest(try cache.load(offset: 2)), digest(TestPages.zero().bytes))
        XCTAssertEqual(digest(try cache.get(fs, file: 1, index: 0)), digest(second))
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        cache.assertConsistent()
    }

    // MARK: statistics

    func testStatisticsEncodeWithKernelNames() throws {
        let cache = CoreTestSupport.cache(pageframes: 4)
        try cache.frontswapInit(type: 0)
        _ = try cache.store(offset: 0, TestPages.random(seed: 1).bytes)
        let data = try JSONEncoder().encode(cache.statistics)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let zcache = try XCTUnwrap(object["zcache"] as? [String: Any])
        let zbud = try XCTUnwrap(object["zbud"] as? [String: Any])
        for name in [
            "eph_pageframes", "pers_pageframes_max", "eph_zbytes_max", "evicted_eph_zpages",
            "evicted_eph_pageframes", "eph_ate_tail", "eph_ate_tail_failed", "pers_ate_eph",
            "pers_ate_eph_failed", "compress_poor", "mean_compress_poor", "failed_eph_puts",
            "failed_pers_puts", "failed_alloc", "put_to_flush", "flush_total", "flush_found",
            "flobj_total", "flobj_found", "obj_count", "obj_count_max",
            "eph_nonactive_puts_ignored",
            "pers_nonactive_puts_ignored", "last_active_file_pageframes",
            "last_inactive_anon_pageframes", "zero_filled_pages", "outstanding_writeback_pages",
            "writtenback_pages",
        ] {
            XCTAssertNotNil(zcache[name], name)
        }
        XCTAssertEqual(zcache["compress_poor"] as? Int, 1)
        for name in [
            "eph_cumul_zbytes", "pers_evicted_pageframes", "pers_zombie_count", "eph_buddied_count",
        ] {
            XCTAssertNotNil(zbud[name], name)
        }
        let decoded = try JSONDecoder().decode(ZCacheStatistics.self, from: data)
        XCTAssertEqual(decoded, cache.statistics)
    }
}
