import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// Slot borrowing: an object whose own class has no partial zspage takes a
/// free slot of a class at most `borrowingReach` bytes larger, and only then.
/// The object's own class is computed here from the class table (the
/// smallest class whose slot holds the object and its 4-byte header).
final class ZSmallocBorrowingTests: XCTestCase {
    let table = ZSmalloc.classTable(maxFramesPerZspage: ZSmalloc.Configuration().maxFramesPerZspage)

    /// The class the kernel's rules give `count` data bytes.
    func ownClass(dataSize count: Int) -> ZSmallocClassInfo {
        table.first { !$0.isHuge && $0.size >= count + 4 } ?? table.last!
    }

    func info(_ handle: ZsHandle) -> ZSmallocClassInfo {
        table.first { $0.index == handle.classIndex }!
    }

    /// Neighbouring classes 16 bytes apart (of 1 KB or more, like compressed
    /// pages), and a class more than 32 bytes below the upper one.
    func classes() throws -> (
        lower: ZSmallocClassInfo, upper: ZSmallocClassInfo, far: ZSmallocClassInfo
    ) {
        let ordinary = table.filter { !$0.isHuge && $0.size >= 1024 }
        let pair = try XCTUnwrap(
            zip(ordinary, ordinary.dropFirst()).first { $1.size - $0.size == 16 })
        let far = try XCTUnwrap(table.last { !$0.isHuge && pair.1.size - $0.size > 32 })
        return (pair.0, pair.1, far)
    }

    func testBorrowsOnlyWhenItsOwnClassHasNoPartialZspageAndOnlyWithinReach() throws {
        let (lower, upper, far) = try classes()
        let pool = PageFramePool(frameCount: 256)
        let zs = ZSmalloc(pool: pool)
        // The upper class starts a zspage; the lower class has none yet.
        let first = try zs.store(objectBytes(id: 1, count: upper.size - 4))
        XCTAssertEqual(first.classIndex, upper.index)
        // A lower-class object borrows the upper class's free slot: no new frame.
        let framesBefore = zs.framesInUse
        let borrowed = try zs.store(objectBytes(id: 2, count: lower.size - 4))
        XCTAssertEqual(info(borrowed).size, upper.size)
        XCTAssertEqual(zs.framesInUse, framesBefore)
        // Too far below: it starts a zspage of its own class.
        let farObject = try zs.store(objectBytes(id: 3, count: far.size - 4))
        XCTAssertEqual(farObject.classIndex, far.index)
        zs.checkInvariants()
        XCTAssertEqual(
            zs.readBytes(first, count: upper.size - 4), objectBytes(id: 1, count: upper.size - 4))
        XCTAssertEqual(
            zs.readBytes(borrowed, count: lower.size - 4), objectBytes(id: 2, count: lower.size - 4)
        )
        XCTAssertEqual(
            zs.readBytes(farObject, count: far.size - 4), objectBytes(id: 3, count: far.size - 4))
        for handle in [first, borrowed, farObject] { zs.free(handle) }
        XCTAssertEqual(zs.framesInUse, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
    }

    func testItsOwnPartialZspageComesFirst() throws {
        let (lower, upper, _) = try classes()
        let zs = ZSmalloc(pool: PageFramePool(frameCount: 256))
        // The lower class has a partial zspage before the upper class has one.
        let own = try zs.store(objectBytes(id: 1, count: lower.size - 4))
        XCTAssertEqual(own.classIndex, lower.index)
        _ = try zs.store(objectBytes(id: 2, count: upper.size - 4))
        let next = try zs.store(objectBytes(id: 3, count: lower.size - 4))
        XCTAssertEqual(next.classIndex, lower.index)
        zs.checkInvariants()
    }

    func testNoBorrowingWithReachZero() throws {
        let (lower, upper, _) = try classes()
        var configuration = ZSmalloc.Configuration()
        configuration.borrowingReach = 0
        let zs = ZSmalloc(pool: PageFramePool(frameCount: 256), configuration: configuration)
        _ = try zs.store(objectBytes(id: 1, count: upper.size - 4))
        let handle = try zs.store(objectBytes(id: 2, count: lower.size - 4))
        XCTAssertEqual(handle.classIndex, lower.index)
        zs.checkInvariants()
    }

    /// Thousands of objects of spread sizes (as compressed pages are): every
    /// object is in its own class or one at most 32 bytes larger, every one
    /// reads back intact, and the pool needs fewer frames than without
    /// borrowing (each class in use otherwise leaves part of a frame unused).
    func testSpreadSizesStayWithinReachAndTakeFewerFrames() throws {
        func fill(reach: Int) throws -> (frames: Int, borrowed: Int) {
            var configuration = ZSmalloc.Configuration()
            configuration.borrowingReach = reach
            let zs = ZSmalloc(pool: PageFramePool(frameCount: 4_096), configuration: configuration)
            var rng = SplitMix64(seed: 13)
            var stored: [(ZsHandle, Int)] = []
            var borrowed = 0
            for id in 0..<3_000 {
                let count = 600 + Int(rng.next() % 2_400)
                let handle = try zs.store(objectBytes(id: UInt64(id), count: count))
                let own = ownClass(dataSize: count)
                let slot = info(handle).size
                XCTAssertGreaterThanOrEqual(slot, own.size, "size \(count)")
                XCTAssertLessThanOrEqual(slot - own.size, reach, "size \(count)")
                if slot != own.size { borrowed += 1 }
                stored.append((handle, count))
            }
            zs.checkInvariants()
            let frames = zs.framesInUse
            for (id, (handle, count)) in stored.enumerated() {
                XCTAssertEqual(
                    zs.readAndFreeBytes(handle, count: count),
                    objectBytes(id: UInt64(id), count: count))
            }
            XCTAssertEqual(zs.framesInUse, 0)
            zs.checkInvariants()
            return (frames, borrowed)
        }
        let kernel = try fill(reach: 0)
        let borrowing = try fill(reach: 32)
        XCTAssertEqual(kernel.borrowed, 0)
        XCTAssertGreaterThan(borrowing.borrowed, 0)
        XCTAssertLessThan(borrowing.frames, kernel.frames)
    }
}
