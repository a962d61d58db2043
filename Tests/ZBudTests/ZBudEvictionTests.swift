import XCTest
import ZCacheSupport

@testable import ZBud

/// Ephemeral eviction and the ownership rule (DESIGN.md, "Ownership rule").
final class ZBudEvictionTests: XCTestCase {
    func testEvictionFlushesEachOwnerOnceAndReturnsTheFrameOnce() {
        let harness = ZBudHarness(frames: 4)
        let zbud = harness.ephemeral
        let a = harness.store(.ephemeral, owner: testOwner(1), data: zpageBytes(seed: 1, count: 1200))!
        let b = harness.store(.ephemeral, owner: testOwner(2), data: zpageBytes(seed: 2, count: 900))!
        XCTAssertEqual(a.frame, b.frame)
        var flushed: [(BudOwner, ZBudRef)] = []
        let evicted = zbud.evictLRU { owner, ref in
            flushed.append((owner, ref))
            // Inside the flush the frame is dying: unreadable, and a free releases nothing.
            XCTAssertNil(harness.read(.ephemeral, ref))
            XCTAssertEqual(zbud.owner(of: ref), owner)
            XCTAssertEqual(zbud.stats.pageframes, 1, "the evictor still holds the frame")
            XCTAssertEqual(zbud.stats.zpages, 0, "the buds are already uncounted")
            XCTAssertNil(zbud.free(ref), "a free in a dying frame must not return it")
        }
        XCTAssertEqual(evicted, a.frame)
        XCTAssertEqual(flushed.map(\.0), [testOwner(1), testOwner(2)])
        XCTAssertEqual(flushed.map(\.1), [a, b])
        XCTAssertEqual(
            zbud.stats,
            {
                var s = ZBudStats()
                s.cumulZpages = 2
                s.cumulZbytes = 1200 + 900 + 64
                s.evictedPageframes = 1
                return s
            }())
        XCTAssertNil(zbud.evictLRU(flush: { _, _ in XCTFail("nothing left") }))
        // The caller frees the returned frame exactly once.
        harness.pool.free(evicted!)
        harness.checkAccounting()
    }

    func testEvictedFrameCanBeReusedDirectly() {
        // eph_ate_tail: the put that found no free frame reuses the evicted one.
        let harness = ZBudHarness(frames: 1)
        let old = harness.store(.ephemeral, owner: testOwner(1), data: zpageBytes(seed: 1, count: 3000))!
        XCTAssertNil(harness.store(.ephemeral, owner: testOwner(2), data: zpageBytes(seed: 2, count: 3000)))
        let frame = harness.ephemeral.evictLRU { _, ref in XCTAssertNil(harness.ephemeral.free(ref)) }!
        XCTAssertEqual(frame, old.frame)
        let data = zpageBytes(seed: 2, count: 3000)
        let new = data.withUnsafeBytes {
            harness.ephemeral.createInNewFrame(
                frame, address: harness.pool.address(of: frame), owner: testOwner(2), data: $0)
        }
        harness.ephemeral.finishCreate(new)
        XCTAssertEqual(harness.read(.ephemeral, new), data)
        XCTAssertEqual(harness.ephemeral.stats.pageframes, 1)
        harness.checkAccounting()
    }

    /// The seed's question: does `shrink_zcache_memory` free a frame twice via
    /// evict -> flush -> tmem_flush_page -> zcache_pampd_free -> zcache_free_page,
    /// then the shrinker's own free of the returned page? Here the flush path is
    /// written exactly like the kernel's (free the frame if zbud returns one),
    /// the pool counts double frees instead of trapping, and the accounting
    /// must hold after every step.
    func testSeedDoubleFreeQuestion() {
        let harness = ZBudHarness(frames: 16)
        harness.pool.setTrapsOnInvalidFree(false)
        let zbud = harness.ephemeral
        // A stand-in for tmem: key -> bud.
        var tmem: [UInt64: ZBudRef] = [:]
        func zcachePampdFree(_ ref: ZBudRef) {
            if let frame = zbud.free(ref) { harness.pool.free(frame) }  // zcache_free_page
        }
        func tmemFlushPage(_ key: UInt64) {
            if let ref = tmem.removeValue(forKey: key) { zcachePampdFree(ref) }
        }
        var key: UInt64 = 0
        for size in [300, 3500, 1800, 2100, 40, 4000, 2500, 1500, 700, 3300, 1000, 2900] {
            key += 1
            tmem[key] = harness.store(.ephemeral, owner: testOwner(key), data: zpageBytes(seed: key, count: size))
        }
        // Free some so frames are a mix of buddied and unbuddied.
        tmemFlushPage(3)
        tmemFlushPage(8)
        harness.checkAccounting()
        let freedBeforeShrinking = harness.pool.freedTotal
        let framesBeforeShrinking = harness.pool.framesInUse
        // The shrinker: evict every frame and free each returned page once.
        var flushes = 0
        var evicted: [PageFrameNumber] = []
        while let page = zbud.evictLRU(flush: { owner, _ in
            flushes += 1
            tmemFlushPage(owner.w0)
        }) {
            evicted.append(page)
            harness.pool.free(page)
            harness.checkAccounting()
        }
        XCTAssertEqual(flushes, 10)
        XCTAssertTrue(tmem.isEmpty, "every evicted zpage left tmem")
        XCTAssertEqual(harness.pool.invalidFrees, 0, "no frame was freed twice")
        XCTAssertEqual(harness.pool.framesInUse, 0, "no frame leaked")
        XCTAssertEqual(zbud.stats.pageframes, 0)
        XCTAssertEqual(evicted.count, framesBeforeShrinking)
        XCTAssertEqual(Set(evicted).count, evicted.count, "each frame is returned once")
        XCTAssertEqual(zbud.stats.evictedPageframes, evicted.count)
        XCTAssertEqual(harness.pool.freedTotal - freedBeforeShrinking, evicted.count)

        // Had the flush path also freed the page (the double free the seed
        // feared), the pool would catch it instead of corrupting its free list.
        let frame = harness.pool.allocate()!
        harness.pool.free(frame)
        harness.pool.free(frame)
        XCTAssertEqual(harness.pool.invalidFrees, 1)
        XCTAssertEqual(harness.pool.framesInUse, 0)
        harness.pool.checkInvariants()
    }

    func testMisuseIsCountedWhenNotTrapping() {
        let harness = ZBudHarness(frames: 2)
        let zbud = harness.ephemeral
        zbud.setTrapsOnMisuse(false)
        let ref = harness.store(.ephemeral, owner: testOwner(1), data: [9, 9])!
        zbud.finishCreate(ref)  // already finished
        XCTAssertNil(zbud.free(ZBudRef(frame: ref.frame, bud: 1)), "bud 1 was never created")
        XCTAssertNil(zbud.free(ZBudRef(frame: PageFrameNumber(rawValue: 77), bud: 0)), "outside the pool")
        let frame = zbud.evictLRU { _, ref in
            XCTAssertNil(zbud.free(ref))
            XCTAssertNil(zbud.free(ref), "a second free in the flush is a double free")
        }!
        harness.pool.free(frame)
        XCTAssertNil(zbud.free(ref), "a stale ref after eviction")
        var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
        XCTAssertNil(buffer.withUnsafeMutableBytes { zbud.copyOut(ref, into: $0) })
        XCTAssertEqual(zbud.stats.invalidOperations, 6)
        harness.checkAccounting()
    }
}
