import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// Compaction moves objects intact and gives back (nearly) every frame an
/// ideal repacking of the surviving objects into their classes would.
final class ZSmallocCompactionTests: XCTestCase {
    /// Frames an ideal repacking needs: per class, the surviving objects in
    /// as few zspages as possible, the last with only the frames its objects
    /// reach (computed from the class table). Each object counts in the class
    /// its handle names: compaction moves objects only within their class,
    /// and an object may have borrowed a slot of a class at most 32 bytes
    /// above its own (checked here too).
    func idealFrames(
        objects: [(handle: ZsHandle, id: UInt64, size: Int)], maxFrames: Int
    ) -> Int {
        let table = ZSmalloc.classTable(maxFramesPerZspage: maxFrames)
        var perClass: [Int: Int] = [:]
        for object in objects {
            // The smallest class slot that holds header + data (or a huge one).
            let own = table.first { !$0.isHuge && $0.size >= object.size + 4 } ?? table.last!
            let holder = table.first { $0.index == object.handle.classIndex }!
            XCTAssertGreaterThanOrEqual(holder.size, own.size)
            XCTAssertLessThanOrEqual(holder.size - own.size, 32)
            perClass[holder.index, default: 0] += 1
        }
        return perClass.reduce(0) { total, entry in
            let info = table.first { $0.index == entry.key }!
            // Whole zspages, then a last one with only the frames its objects reach.
            let full = entry.value / info.objectsPerZspage
            let rest = entry.value % info.objectsPerZspage
            return total + full * info.framesPerZspage + (rest * info.size + 4095) / 4096
        }
    }

    func testCompactionAfterFreeingARandomHalf() throws {
        for maxFrames in [16, 8, 4, 1] {
            var configuration = ZSmalloc.Configuration()
            configuration.maxFramesPerZspage = maxFrames
            let pool = PageFramePool(frameCount: 8_192)
            let zs = ZSmalloc(pool: pool, configuration: configuration)
            var rng = SplitMix64(seed: 42 + UInt64(maxFrames))
            var live: [(handle: ZsHandle, id: UInt64, size: Int)] = []
            for id in 0..<8_000 {
                // Sizes like compressed pages: mostly 500...3500 bytes.
                let size = 40 + Int(rng.next() % 3_600)
                live.append(
                    (try zs.store(objectBytes(id: UInt64(id), count: size)), UInt64(id), size))
            }
            live.shuffle(using: &rng)
            for object in live[(live.count / 2)...] { zs.free(object.handle) }
            live.removeLast(live.count - live.count / 2)
            zs.checkInvariants()

            let before = zs.framesInUse
            let ideal = idealFrames(objects: live, maxFrames: maxFrames)
            let freed = zs.compact()
            zs.checkInvariants()
            XCTAssertEqual(zs.framesInUse, before - freed)
            XCTAssertEqual(pool.framesInUse, zs.framesInUse)
            XCTAssertGreaterThanOrEqual(
                Double(freed), 0.9 * Double(before - ideal),
                "max \(maxFrames): freed \(freed) of \(before - ideal) an ideal repacking frees")
            XCTAssertGreaterThan(freed, 0)
            XCTAssertEqual(zs.stats.pagesCompacted, freed)
            for object in live {
                XCTAssertEqual(
                    zs.readBytes(object.handle, count: object.size),
                    objectBytes(id: object.id, count: object.size),
                    "object \(object.id) after compaction")
            }
            // A second compaction finds nothing more to do.
            XCTAssertEqual(zs.compact(), 0)
            for object in live { zs.free(object.handle) }
            XCTAssertEqual(pool.framesInUse, 0)
        }
    }
}
