import XCTest
import ZCacheSupport

@testable import PageFrames

final class PageFramePoolTests: XCTestCase {
    func testRegionIsContiguousAndPageAligned() {
        let pool = PageFramePool(frameCount: 8)
        let base = Int(bitPattern: pool.address(of: PageFrameNumber(rawValue: 0)))
        XCTAssertEqual(base % pageSize, 0)
        for i in 0..<8 {
            XCTAssertEqual(
                Int(bitPattern: pool.address(of: PageFrameNumber(rawValue: UInt32(i)))),
                base + i * pageSize)
        }
    }

    func testAllocatesEveryFrameOnceThenFails() {
        let pool = PageFramePool(frameCount: 5)
        var seen = Set<PageFrameNumber>()
        for _ in 0..<5 {
            let frame = pool.allocate()
            XCTAssertNotNil(frame)
            XCTAssertTrue(seen.insert(frame!).inserted, "frame handed out twice")
        }
        XCTAssertEqual(seen.map(\.rawValue).sorted(), [0, 1, 2, 3, 4])
        XCTAssertNil(pool.allocate(), "an exhausted pool must refuse")
        XCTAssertEqual(pool.framesInUse, 5)
        pool.free(PageFrameNumber(rawValue: 3))
        XCTAssertEqual(pool.allocate(), PageFrameNumber(rawValue: 3), "a freed frame is reused")
        XCTAssertEqual(pool.allocatedTotal, 6)
        XCTAssertEqual(pool.freedTotal, 1)
        pool.checkInvariants()
    }

    func testFramesDoNotOverlap() {
        let pool = PageFramePool(frameCount: 4)
        let frames = (0..<4).map { _ in pool.allocate()! }
        for (i, frame) in frames.enumerated() {
            pool.address(of: frame).initializeMemory(
                as: UInt8.self, repeating: UInt8(i), count: pageSize)
        }
        for (i, frame) in frames.enumerated() {
            let bytes = UnsafeRawBufferPointer(start: pool.address(of: frame), count: pageSize)
            XCTAssertTrue(bytes.allSatisfy { $0 == UInt8(i) })
        }
    }

    func testDoubleAndInvalidFreesAreCountedAndChangeNothing() {
        let pool = PageFramePool(frameCount: 3)
        pool.setTrapsOnInvalidFree(false)
        let frame = pool.allocate()!
        pool.free(frame)
        pool.free(frame)  // double free
        pool.free(PageFrameNumber(rawValue: 2))  // never allocated
        pool.free(PageFrameNumber(rawValue: 99))  // outside the pool
        XCTAssertEqual(pool.invalidFrees, 3)
        XCTAssertEqual(pool.freedTotal, 1)
        XCTAssertEqual(pool.framesInUse, 0)
        pool.checkInvariants()
        // The free stack was not corrupted: each frame comes out exactly once.
        let all = (0..<3).compactMap { _ in pool.allocate() }
        XCTAssertEqual(Set(all).count, 3)
        XCTAssertNil(pool.allocate())
    }

    func testInjectedFailures() {
        let pool = PageFramePool(frameCount: 10)
        let calls = LockedValue(0)
        pool.injectAllocationFailures {
            calls.withLock { count in
                count += 1
                return count % 2 == 0
            }
        }
        let results = (0..<6).map { _ in pool.allocate() }
        XCTAssertEqual(results.map { $0 == nil }, [false, true, false, true, false, true])
        XCTAssertEqual(pool.injectedFailures, 3)
        XCTAssertEqual(pool.framesInUse, 3)
        pool.injectAllocationFailures(nil)
        XCTAssertNotNil(pool.allocate())
        pool.checkInvariants()
    }

    func testEmptyPool() {
        let pool = PageFramePool(frameCount: 0)
        XCTAssertNil(pool.allocate())
        pool.checkInvariants()
    }
}
