import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// ZSmalloc against a dictionary model: random store / read / read-and-free /
/// free / bad free / compact, with pool failures injected; every stored
/// object reads back exactly, every refusal is `.noMemory`, frames balance,
/// and the invariants hold after each operation (the class it touched after
/// each, every class every 500 operations -- every 25 in small pools -- and
/// after each compaction).
final class ZSmallocModelTests: XCTestCase {
    func testRandomOperationsAgainstModel() throws {
        runAgainstModel(
            frames: 96, maxFramesPerZspage: ZSmalloc.Configuration().maxFramesPerZspage,
            operations: 200_000, seed: 0x2005_EED)
    }

    /// Small pools run out of frames all the time, so zspages are often left
    /// partly attached (a later frame attached only when an object reaches
    /// it); with long zspages a small pool cannot even hold one whole zspage.
    /// Every chain length against every pool of 2...16 frames.
    func testSmallPoolsWithEveryZspageLengthAgainstModel() throws {
        for maxFrames in [1, 2, 4, 8, 16] {
            for frames in 2...16 {
                runAgainstModel(
                    frames: frames, maxFramesPerZspage: maxFrames, operations: 1_200,
                    seed: UInt64(maxFrames << 8 | frames))
            }
        }
    }

    private func runAgainstModel(
        frames frameCount: Int, maxFramesPerZspage: Int, operations: Int, seed: UInt64
    ) {
        let pool = PageFramePool(frameCount: frameCount)
        var configuration = ZSmalloc.Configuration()
        configuration.maxFramesPerZspage = maxFramesPerZspage
        let zs = ZSmalloc(pool: pool, configuration: configuration)
        zs.setTrapsOnInvalidFree(false)
        let failEvery = LockedValue(SplitMix64(seed: 7 &+ seed))
        pool.injectAllocationFailures { failEvery.withLock { $0.next() % 16 == 0 } }
        var rng = SplitMix64(seed: seed)
        let context = "pool of \(frameCount) frames, zspages of up to \(maxFramesPerZspage)"
        var model: [ZsHandle: (id: UInt64, size: Int)] = [:]
        var handles: [ZsHandle] = []  // the model's keys, for random picks
        var invalidFrees = 0
        var nextID: UInt64 = 0
        var partlyAttachedSeen = false

        func randomSize() -> Int {
            switch rng.next() % 10 {
            case 0: return 1 + Int(rng.next() % 64)
            case 1: return 3_500 + Int(rng.next() % 597)  // huge classes
            default: return 1 + Int(rng.next() % 3_000)
            }
        }
        func takeRandomHandle() -> ZsHandle? {
            guard !handles.isEmpty else { return nil }
            let k = Int(rng.next() % UInt64(handles.count))
            handles.swapAt(k, handles.count - 1)
            return handles.removeLast()
        }

        for step in 0..<operations {
            let op = rng.next() % 100
            var touched: ZsHandle? = nil
            switch op {
            case 0..<45:
                let size = randomSize()
                nextID += 1
                do {
                    let handle = try zs.store(objectBytes(id: nextID, count: size))
                    XCTAssertNil(model[handle], "handle \(handle) handed out twice")
                    model[handle] = (nextID, size)
                    handles.append(handle)
                    touched = handle
                } catch {
                    XCTAssertEqual(error, .noMemory, context)
                    zs.checkInvariants(classForDataSize: size)
                }
            case 45..<65:
                guard !handles.isEmpty else { continue }
                let handle = handles[Int(rng.next() % UInt64(handles.count))]
                let entry = model[handle]!
                XCTAssertEqual(
                    zs.readBytes(handle, count: entry.size),
                    objectBytes(id: entry.id, count: entry.size), context)
                touched = handle
            case 65..<80:
                guard let handle = takeRandomHandle() else { continue }
                let entry = model.removeValue(forKey: handle)!
                XCTAssertEqual(
                    zs.readAndFreeBytes(handle, count: entry.size),
                    objectBytes(id: entry.id, count: entry.size), context)
                touched = handle
            case 80..<97:
                guard let handle = takeRandomHandle() else { continue }
                model.removeValue(forKey: handle)
                zs.free(handle)
                touched = handle
            case 97..<99:
                // A handle that names nothing now: counted, changes nothing.
                let bogus = ZsHandle(rawValue: UInt32(truncatingIfNeeded: rng.next()))
                if model[bogus] == nil {
                    zs.free(bogus)
                    XCTAssertNil(zs.readBytes(bogus, count: 1))
                    invalidFrees += 1
                }
            default:
                let before = zs.framesInUse
                let freed = zs.compact()
                XCTAssertEqual(zs.framesInUse, before - freed, context)
                zs.checkInvariants()
            }
            if let touched { zs.checkInvariants(classOf: touched) }
            XCTAssertEqual(pool.framesInUse, zs.framesInUse, context)
            // Small pools: every class and the pool often (they are cheap to check).
            if step % (frameCount <= 16 ? 25 : 500) == 0 {
                zs.checkInvariants()
                pool.checkInvariants()
                let stats = zs.stats
                XCTAssertEqual(stats.objectsInUse, model.count, context)
                partlyAttachedSeen =
                    partlyAttachedSeen
                    || stats.classes.contains {
                        $0.frames < $0.objectsAllocated / $0.objectsPerZspage * $0.framesPerZspage
                    }
            }
        }
        // The state this test is for: zspages holding fewer frames than their
        // length (seen at the sampled checks).
        if frameCount <= 16, maxFramesPerZspage > 1 {
            XCTAssertTrue(partlyAttachedSeen, "no partly attached zspage: \(context)")
        }
        // Everything still stored reads back; freeing it all empties the pool.
        for (handle, entry) in model {
            XCTAssertEqual(
                zs.readBytes(handle, count: entry.size),
                objectBytes(id: entry.id, count: entry.size), context)
            zs.free(handle)
        }
        XCTAssertEqual(zs.stats.invalidFrees, invalidFrees, context)
        XCTAssertEqual(zs.framesInUse, 0, context)
        XCTAssertEqual(pool.framesInUse, 0, context)
        XCTAssertGreaterThan(pool.injectedFailures, 0, context)
        zs.checkInvariants()
        pool.checkInvariants()
    }
}
