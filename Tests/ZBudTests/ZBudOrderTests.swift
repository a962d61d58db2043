import XCTest

@testable import ZBud

/// Matching order (fullest unbuddied frame that still fits, oldest first) and
/// LRU order (a frame moves to the MRU end when a bud is added, not when freed).
final class ZBudOrderTests: XCTestCase {
    func testMatchingTakesTheFullestFrameThatFits() {
        let harness = ZBudHarness(frames: 8)
        let a = harness.storeInNewFrame(.ephemeral, owner: testOwner(1), data: zpageBytes(seed: 1, count: dataSize(chunks: 10)))
        let b = harness.storeInNewFrame(.ephemeral, owner: testOwner(2), data: zpageBytes(seed: 2, count: dataSize(chunks: 30)))
        let c = harness.storeInNewFrame(.ephemeral, owner: testOwner(3), data: zpageBytes(seed: 3, count: dataSize(chunks: 30)))
        let d = harness.storeInNewFrame(.ephemeral, owner: testOwner(4), data: zpageBytes(seed: 4, count: dataSize(chunks: 50)))
        let e = harness.storeInNewFrame(.ephemeral, owner: testOwner(5), data: zpageBytes(seed: 5, count: dataSize(chunks: 44)))
        let zbud = harness.ephemeral
        func match(chunks: Int, id: UInt64) -> PageFrameNumber? {
            let ref = zpageBytes(seed: id, count: dataSize(chunks: chunks)).withUnsafeBytes {
                zbud.createInMatchingFrame(owner: testOwner(id), data: $0)
            }
            if let ref {
                XCTAssertEqual(ref.bud, 1)
                zbud.finishCreate(ref)
            }
            harness.checkAccounting()
            return ref?.frame
        }
        // 20 chunks fit frames using <= 44: e (44, exact fit) is the fullest.
        XCTAssertEqual(match(chunks: 20, id: 10), e.frame)
        // Then b and c (30 each; b is older on unbuddied[30]), then a.
        XCTAssertEqual(match(chunks: 20, id: 11), b.frame)
        XCTAssertEqual(match(chunks: 20, id: 12), c.frame)
        XCTAssertEqual(match(chunks: 20, id: 13), a.frame)
        // Only d (50) remains unbuddied: 20 chunks do not fit, 14 do.
        XCTAssertNil(match(chunks: 20, id: 14))
        XCTAssertEqual(match(chunks: 14, id: 15), d.frame)
        XCTAssertNil(match(chunks: 1, id: 16), "every frame is buddied")
        XCTAssertEqual(zbud.stats.buddiedCount, 5)
        XCTAssertEqual(zbud.stats.unbuddiedCount, 0)
    }

    func testAFreedBudMakesItsFrameMatchableByTheRemainingSize() {
        let harness = ZBudHarness(frames: 4)
        let big = harness.storeInNewFrame(.persistent, owner: testOwner(1), data: zpageBytes(seed: 1, count: dataSize(chunks: 40)))
        let small = harness.store(.persistent, owner: testOwner(2), data: zpageBytes(seed: 2, count: dataSize(chunks: 20)))!
        XCTAssertEqual(small.frame, big.frame)
        XCTAssertFalse(harness.release(.persistent, big), "the frame still holds a bud")
        XCTAssertEqual(harness.persistent.stats.unbuddiedCount, 1)
        // Now only 20 chunks are used: a 44-chunk bud fits, in the free bud 0.
        let ref = harness.store(.persistent, owner: testOwner(3), data: zpageBytes(seed: 3, count: dataSize(chunks: 44)))!
        XCTAssertEqual(ref, ZBudRef(frame: big.frame, bud: 0))
        XCTAssertEqual(harness.read(.persistent, small), zpageBytes(seed: 2, count: dataSize(chunks: 20)))
        XCTAssertEqual(harness.read(.persistent, ref), zpageBytes(seed: 3, count: dataSize(chunks: 44)))
        harness.checkAccounting()
    }

    /// Eviction order reveals the LRU order.
    private func evictionOrder(_ harness: ZBudHarness) -> [PageFrameNumber] {
        var order: [PageFrameNumber] = []
        while let frame = harness.ephemeral.evictLRU(flush: { _, ref in
            XCTAssertNil(harness.ephemeral.free(ref))
        }) {
            order.append(frame)
            harness.pool.free(frame)
            harness.checkAccounting()
        }
        return order
    }

    func testAddingABudMovesItsFrameToTheMRUEnd() {
        let harness = ZBudHarness(frames: 4)
        let f = (0..<3).map { i in
            harness.storeInNewFrame(.ephemeral, owner: testOwner(UInt64(i)), data: zpageBytes(seed: UInt64(i), count: 1000))
        }
        // f[0] gains a buddy: it becomes most recently used.
        let buddy = harness.store(.ephemeral, owner: testOwner(9), data: zpageBytes(seed: 9, count: 1000))!
        XCTAssertEqual(buddy.frame, f[0].frame)
        XCTAssertEqual(evictionOrder(harness), [f[1].frame, f[2].frame, f[0].frame])
        XCTAssertEqual(harness.ephemeral.stats.evictedPageframes, 3)
        XCTAssertEqual(harness.ephemeral.stats.pageframes, 0)
    }

    func testFreeingABudDoesNotMoveItsFrame() {
        let harness = ZBudHarness(frames: 4)
        let first = harness.storeInNewFrame(.ephemeral, owner: testOwner(0), data: zpageBytes(seed: 0, count: 1500))
        let firstBuddy = harness.store(.ephemeral, owner: testOwner(1), data: zpageBytes(seed: 1, count: 1500))!
        let second = harness.storeInNewFrame(.ephemeral, owner: testOwner(2), data: zpageBytes(seed: 2, count: 1500))
        XCTAssertEqual(firstBuddy.frame, first.frame)
        XCTAssertFalse(harness.release(.ephemeral, firstBuddy))
        XCTAssertEqual(evictionOrder(harness), [first.frame, second.frame])
    }

    func testBusyFramesAreSkippedByEvictionUntilFinished() {
        let harness = ZBudHarness(frames: 4)
        let busy = harness.storeInNewFrame(.ephemeral, owner: testOwner(0), data: [1, 2, 3], finish: false)
        XCTAssertNil(harness.ephemeral.evictLRU(flush: { _, _ in XCTFail("nothing is evictable") }))
        let idle = harness.storeInNewFrame(.ephemeral, owner: testOwner(1), data: zpageBytes(seed: 1, count: 3500))
        // The busy frame is LRU but skipped.
        XCTAssertEqual(evictionOrder(harness), [idle.frame])
        harness.ephemeral.finishCreate(busy)
        XCTAssertEqual(evictionOrder(harness), [busy.frame])
    }

    func testAMatchedBudKeepsItsFrameBusyUntilFinished() {
        let harness = ZBudHarness(frames: 4)
        let first = harness.storeInNewFrame(.persistent, owner: testOwner(0), data: [1])
        let pending = harness.store(.persistent, owner: testOwner(1), data: [2], finish: false)!
        XCTAssertEqual(pending.frame, first.frame)
        XCTAssertTrue(harness.persistent.zombifyLRU().isEmpty, "a busy frame is never zombified")
        harness.persistent.finishCreate(pending)
        XCTAssertEqual(harness.persistent.zombifyLRU().map(\.ref), [first, pending])
        harness.checkAccounting()
    }
}
