import XCTest

@testable import ZBud

/// Persistent writeback through zombies.
final class ZBudZombieTests: XCTestCase {
    func testZombieDataStaysReadableAndTheFrameReturnsAfterBothFrees() {
        let harness = ZBudHarness(frames: 4)
        let zbud = harness.persistent
        let data = (1...3).map { zpageBytes(seed: UInt64($0), count: 1000 + 300 * $0) }
        let a = harness.store(.persistent, owner: testOwner(1), data: data[0])!
        let b = harness.store(.persistent, owner: testOwner(2), data: data[1])!
        let c = harness.storeInNewFrame(.persistent, owner: testOwner(3), data: data[2])
        XCTAssertEqual(a.frame, b.frame)

        let zombie = zbud.zombifyLRU()
        XCTAssertEqual(zombie.map(\.owner), [testOwner(1), testOwner(2)])
        XCTAssertEqual(zombie.map(\.ref), [a, b])
        XCTAssertEqual(zbud.stats.zombieCount, 1)
        XCTAssertEqual(zbud.stats.pageframes, 2)
        XCTAssertEqual(zbud.stats.zpages, 3, "zombie buds are still stored")
        XCTAssertEqual(harness.read(.persistent, a), data[0])
        XCTAssertEqual(harness.read(.persistent, b), data[1])
        harness.checkAccounting()

        // The next zombie is the other frame, never the zombie again.
        XCTAssertEqual(zbud.zombifyLRU().map(\.ref), [c])
        XCTAssertTrue(zbud.zombifyLRU().isEmpty)
        XCTAssertEqual(zbud.stats.zombieCount, 2)

        XCTAssertFalse(harness.release(.persistent, a), "b still lives in the frame")
        XCTAssertEqual(harness.read(.persistent, b), data[1])
        XCTAssertEqual(zbud.stats.unbuddiedCount, 2)
        XCTAssertEqual(zbud.stats.buddiedCount, 0)
        harness.checkAccounting()
        XCTAssertEqual(zbud.free(b), a.frame, "the last free returns the zombie frame")
        harness.pool.free(a.frame)
        XCTAssertTrue(harness.release(.persistent, c))
        XCTAssertEqual(zbud.stats.zombieCount, 0)
        XCTAssertEqual(zbud.stats.pageframes, 0)
        XCTAssertEqual(zbud.stats.evictedPageframes, 2)
        harness.checkAccounting()
    }

    func testZombiesAreNeverMatched() {
        let harness = ZBudHarness(frames: 4)
        let zbud = harness.persistent
        let a = harness.store(.persistent, owner: testOwner(1), data: zpageBytes(seed: 1, count: 500))!
        XCTAssertEqual(zbud.zombifyLRU().map(\.ref), [a])
        // 500 bytes would fit beside a's bud; it must go to a new frame.
        let b = harness.store(.persistent, owner: testOwner(2), data: zpageBytes(seed: 2, count: 500))!
        XCTAssertNotEqual(b.frame, a.frame)
        // A buddied zombie that loses a bud stays unmatchable.
        let c = harness.store(.persistent, owner: testOwner(3), data: zpageBytes(seed: 3, count: 500))!
        XCTAssertEqual(c.frame, b.frame)
        XCTAssertEqual(zbud.zombifyLRU().map(\.ref), [b, c])
        XCTAssertFalse(harness.release(.persistent, b))
        let d = harness.store(.persistent, owner: testOwner(4), data: zpageBytes(seed: 4, count: 500))!
        XCTAssertNotEqual(d.frame, a.frame)
        XCTAssertNotEqual(d.frame, b.frame)
        XCTAssertEqual(harness.read(.persistent, c), zpageBytes(seed: 3, count: 500))
        harness.checkAccounting()
    }
}
