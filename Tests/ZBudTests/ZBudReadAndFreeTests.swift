import XCTest
import ZCacheSupport

@testable import ZBud

/// `copyOutAndFree`: an exclusive get's read-and-free under one lock must equal
/// `copyOut` followed by `free`, including in a dying frame.
final class ZBudReadAndFreeTests: XCTestCase {
    func testCopyOutAndFreeEqualsCopyOutThenFree() {
        let harness = ZBudHarness(frames: 4)
        let zbud = harness.persistent
        let first = zpageBytes(seed: 1, count: 1500)
        let second = zpageBytes(seed: 2, count: 700)
        let a = harness.store(.persistent, owner: testOwner(1), data: first)!
        let b = harness.store(.persistent, owner: testOwner(2), data: second)!
        XCTAssertEqual(a.frame, b.frame)
        var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
        let (sizeA, frameA) = buffer.withUnsafeMutableBytes { zbud.copyOutAndFree(a, into: $0) }
        XCTAssertEqual(sizeA, first.count)
        XCTAssertEqual(Array(buffer[..<first.count]), first)
        XCTAssertNil(frameA, "the frame still holds b")
        XCTAssertEqual(zbud.stats.zpages, 1)
        XCTAssertEqual(zbud.stats.buddiedCount, 0)
        XCTAssertEqual(zbud.stats.unbuddiedCount, 1)
        let (sizeB, frameB) = buffer.withUnsafeMutableBytes { zbud.copyOutAndFree(b, into: $0) }
        XCTAssertEqual(sizeB, second.count)
        XCTAssertEqual(Array(buffer[..<second.count]), second)
        XCTAssertEqual(frameB, b.frame, "the last bud's read-and-free empties the frame")
        harness.pool.free(frameB!)
        XCTAssertEqual(zbud.stats.pageframes, 0)
        zbud.checkInvariants()
        harness.checkAccounting()
    }

    func testCopyOutAndFreeInADyingFrameReadsAndReleasesNothing() {
        let harness = ZBudHarness(frames: 2)
        let zbud = harness.ephemeral
        let a = harness.store(
            .ephemeral, owner: testOwner(1), data: zpageBytes(seed: 3, count: 800))!
        var result: (size: Int?, emptiedFrame: PageFrameNumber?) = (0, nil)
        let evicted = zbud.evictLRU { _, ref in
            var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
            result = buffer.withUnsafeMutableBytes { zbud.copyOutAndFree(ref, into: $0) }
        }
        XCTAssertNil(result.size)
        XCTAssertNil(result.emptiedFrame, "the evictor owns a dying frame")
        XCTAssertEqual(evicted, a.frame)
        harness.pool.free(evicted!)
        harness.checkAccounting()
    }
}
