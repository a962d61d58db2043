import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// The class table against the kernel's rules, computed here independently:
/// waste per zspage length (calculate_zspage_chain_size), the merging rule of
/// zs_create_pool, and the huge watermark.
final class ZSmallocClassTableTests: XCTestCase {
    /// (size, frames, objects) of every slot size, by the kernel's formula.
    func kernelSlots(maxFrames: Int) -> [(size: Int, frames: Int, objects: Int)] {
        stride(from: 32, through: 4096, by: 16).map { size in
            var frames = 1
            if size.nonzeroBitCount != 1 {
                // The length with the least waste; the shortest among equals.
                let wastes = (1...maxFrames).map { ($0, $0 * 4096 % size) }
                frames = wastes.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }!.0
            }
            return (size, frames, frames * 4096 / size)
        }
    }

    /// Runs of neighbouring sizes with the same (frames, objects), each served
    /// by its largest size.
    func kernelClasses(maxFrames: Int) -> [(size: Int, smallest: Int, frames: Int, objects: Int)] {
        var runs: [(size: Int, smallest: Int, frames: Int, objects: Int)] = []
        for slot in kernelSlots(maxFrames: maxFrames) {
            if let last = runs.last, last.frames == slot.frames, last.objects == slot.objects {
                runs[runs.count - 1] = (slot.size, last.smallest, slot.frames, slot.objects)
            } else {
                runs.append((slot.size, slot.size, slot.frames, slot.objects))
            }
        }
        return runs
    }

    func testTableMatchesTheKernelsRulesForEveryZspageLength() {
        for maxFrames in [1, 2, 4, 8, 16] {
            let table = ZSmalloc.classTable(maxFramesPerZspage: maxFrames)
            let expected = kernelClasses(maxFrames: maxFrames)
            XCTAssertEqual(table.count, expected.count, "max \(maxFrames) frames")
            for (info, want) in zip(table, expected) {
                XCTAssertEqual(info.size, want.size)
                XCTAssertEqual(info.smallestMergedSize, want.smallest)
                XCTAssertEqual(info.framesPerZspage, want.frames, "size \(want.size)")
                XCTAssertEqual(info.objectsPerZspage, want.objects, "size \(want.size)")
                XCTAssertEqual(info.index, (info.size - 32) / 16)
                XCTAssertEqual(info.isHuge, want.frames == 1 && want.objects == 1)
            }
        }
    }

    func testWorkedExamples() {
        let table = ZSmalloc.classTable(maxFramesPerZspage: 4)
        func info(_ size: Int) -> ZSmallocClassInfo? { table.first { $0.size == size } }
        // The kernel's own example (commit "zsmalloc: rework zspage chain size
        // selection"): class 208 wastes 144, 80, 16, 160 bytes in 1...4 frames.
        XCTAssertEqual(info(208)?.framesPerZspage, 3)
        XCTAssertEqual(info(208)?.objectsPerZspage, 59)
        XCTAssertEqual(info(208)?.wastePerZspage, 16)
        // Powers of two take one frame; 48 fits 256 objects in 3 frames exactly.
        XCTAssertEqual(info(32)?.objectsPerZspage, 128)
        XCTAssertEqual(info(32)?.framesPerZspage, 1)
        XCTAssertEqual(info(48)?.framesPerZspage, 3)
        XCTAssertEqual(info(48)?.wastePerZspage, 0)
        XCTAssertEqual(info(4096)?.isHuge, true)
        // With 4-frame zspages, no class below the largest wastes more than
        // a zspage's worth of one object.
        for class_ in table where !class_.isHuge {
            XCTAssertLessThan(class_.wastePerZspage, class_.size)
        }
    }

    func testHugeWatermark() {
        for maxFrames in [1, 4, 16] {
            let slots = kernelSlots(maxFrames: maxFrames)
            // huge_class_size: the smallest slot of one object in one frame.
            let watermark = slots.first { $0.frames == 1 && $0.objects == 1 }!.size
            let table = ZSmalloc.classTable(maxFramesPerZspage: maxFrames)
            let hugeClasses = table.filter(\.isHuge)
            XCTAssertEqual(hugeClasses.map(\.smallestMergedSize).min(), watermark)
            XCTAssertEqual(hugeClasses.last?.size, 4096)
            if maxFrames == 1 { XCTAssertEqual(watermark, 2064) }
        }
    }

    func testEveryDataSizeGoesToASlotThatHoldsIt() throws {
        let pool = PageFramePool(frameCount: 2_048)
        let zs = ZSmalloc(pool: pool)
        let table = ZSmalloc.classTable(
            maxFramesPerZspage: ZSmalloc.Configuration().maxFramesPerZspage)
        for size in 1...4096 {
            let handle = try zs.store(objectBytes(id: UInt64(size), count: size))
            let info = try XCTUnwrap(table.first { $0.index == handle.classIndex })
            if info.isHuge {
                XCTAssertLessThanOrEqual(size, 4096)
            } else {
                // Header + data fit; and the next smaller class would not do.
                XCTAssertLessThanOrEqual(size + 4, info.size)
                if info.smallestMergedSize > 32 {
                    XCTAssertGreaterThan(size + 4, info.smallestMergedSize - 16, "size \(size)")
                }
            }
            zs.free(handle)
        }
        XCTAssertEqual(zs.framesInUse, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
    }
}

/// Figures the kernel's authors published: "With zspage chain size of 8 we
/// have ... higher huge size class watermark (3632 bytes)" (commit "zsmalloc:
/// set default zspage chain size to 8"); with the earlier 4-frame zspages the
/// watermark was 3264. zs_create_pool's watermark is the largest class that
/// is not one object in one frame (less the handle it adds, which ZSmalloc
/// adds as its 4-byte header before the class lookup).
final class ZSmallocKernelFiguresTests: XCTestCase {
    func testHugeWatermarks() {
        for (maxFrames, watermark) in [(4, 3264), (8, 3632)] {
            let table = ZSmalloc.classTable(maxFramesPerZspage: maxFrames)
            XCTAssertEqual(table.filter { !$0.isHuge }.map(\.size).max(), watermark)
            // Above it, every size is served by the one huge class of 4096.
            XCTAssertEqual(table.filter(\.isHuge).map(\.size), [4096])
        }
    }
}
