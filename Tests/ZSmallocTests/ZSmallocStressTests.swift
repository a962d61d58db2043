import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// Threads storing, reading and freeing in the same classes while one of them
/// compacts now and then (moving the others' objects under them): every read sees its own bytes, and
/// the frames balance at the end. Run under TSan too.
final class ZSmallocStressTests: XCTestCase {
    func testConcurrentStoreReadFreeWithCompaction() {
        let pool = PageFramePool(frameCount: 4_096)
        let zs = ZSmalloc(pool: pool)
        let workers = 4
        let rounds = 3_000
        let mismatches = LockedValue(0)
        let stored = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var rng = SplitMix64(seed: UInt64(worker) &* 977)
            var mine: [(ZsHandle, UInt64, Int)] = []
            for round in 0..<rounds {
                // Each worker compacts now and then, moving the others' objects.
                if round % 250 == worker * 60 { _ = zs.compact() }
                let id = UInt64(worker) << 32 | UInt64(round)
                // Few sizes, so the threads share classes and zspages.
                let size = [100, 700, 1500, 2900, 4096][Int(rng.next() % 5)]
                if let handle = try? zs.store(objectBytes(id: id, count: size)) {
                    mine.append((handle, id, size))
                    stored.withLock { $0 += 1 }
                }
                if rng.next() % 3 == 0, !mine.isEmpty {
                    let k = Int(rng.next() % UInt64(mine.count))
                    let (handle, id, size) = mine[k]
                    if zs.readBytes(handle, count: size) != objectBytes(id: id, count: size) {
                        mismatches.withLock { $0 += 1 }
                    }
                }
                if rng.next() % 2 == 0, !mine.isEmpty {
                    let k = Int(rng.next() % UInt64(mine.count))
                    let (handle, id, size) = mine.remove(at: k)
                    if rng.next() % 2 == 0 {
                        zs.free(handle)
                    } else if zs.readAndFreeBytes(handle, count: size)
                        != objectBytes(id: id, count: size)
                    {
                        mismatches.withLock { $0 += 1 }
                    }
                }
            }
            for (handle, id, size) in mine {
                if zs.readAndFreeBytes(handle, count: size) != objectBytes(id: id, count: size) {
                    mismatches.withLock { $0 += 1 }
                }
            }
        }
        XCTAssertEqual(mismatches.withLock { $0 }, 0)
        XCTAssertGreaterThan(stored.withLock { $0 }, workers * rounds / 2)
        XCTAssertEqual(zs.framesInUse, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
        pool.checkInvariants()
    }

    /// The same in a pool of 12 frames with zspages of up to 8: the pool runs
    /// dry all the time, so stores fail and zspages stay partly attached while
    /// other threads read, free and compact them.
    func testConcurrentStoresInASmallPoolWithLongZspages() {
        let pool = PageFramePool(frameCount: 12)
        var configuration = ZSmalloc.Configuration()
        configuration.maxFramesPerZspage = 8
        let zs = ZSmalloc(pool: pool, configuration: configuration)
        let workers = 4
        let rounds = 2_000
        let mismatches = LockedValue(0)
        let stored = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var rng = SplitMix64(seed: UInt64(worker) &* 131 &+ 1)
            var mine: [(ZsHandle, UInt64, Int)] = []
            for round in 0..<rounds {
                if round % 100 == worker * 20 { _ = zs.compact() }
                let id = UInt64(worker) << 32 | UInt64(round)
                let size = [60, 400, 1_100, 2_000, 3_000][Int(rng.next() % 5)]
                if let handle = try? zs.store(objectBytes(id: id, count: size)) {
                    mine.append((handle, id, size))
                    stored.withLock { $0 += 1 }
                }
                if rng.next() % 3 == 0, !mine.isEmpty {
                    let (handle, id, size) = mine[Int(rng.next() % UInt64(mine.count))]
                    if zs.readBytes(handle, count: size) != objectBytes(id: id, count: size) {
                        mismatches.withLock { $0 += 1 }
                    }
                }
                if rng.next() % 2 == 0, !mine.isEmpty {
                    let (handle, id, size) = mine.remove(at: Int(rng.next() % UInt64(mine.count)))
                    if zs.readAndFreeBytes(handle, count: size) != objectBytes(id: id, count: size)
                    {
                        mismatches.withLock { $0 += 1 }
                    }
                }
            }
            for (handle, _, _) in mine { zs.free(handle) }
        }
        XCTAssertEqual(mismatches.withLock { $0 }, 0)
        XCTAssertGreaterThan(stored.withLock { $0 }, 0)
        XCTAssertGreaterThan(zs.stats.noMemoryFailures, 0, "the pool never ran dry")
        XCTAssertEqual(zs.framesInUse, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
        pool.checkInvariants()
    }
}
