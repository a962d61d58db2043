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

/// Frames on demand: what the kernel reports as resident (`mincore`), not
/// what the pool's counters say.
final class PageFramePoolResidencyTests: XCTestCase {
    func testFreshPoolIsNotResident() {
        let pool = PageFramePool(frameCount: 65_536)  // 256 MiB of address space
        XCTAssertEqual(pool.residentBytes, 0)
        // Metadata for 65,536 frames: at most 1 % of the configured size.
        XCTAssertLessThanOrEqual(pool.metadataResidentBytes, 65_536 * pageSize / 100)
        XCTAssertLessThanOrEqual(pool.metadataResidentBytes, 4 * pageSize)
    }

    func testResidentTracksTouchedFramesAndFallsBackAfterFree() {
        // Idle time 0: frames beyond the reserve go back as soon as they are freed.
        let pool = PageFramePool(frameCount: 65_536, releaseAfterIdleMilliseconds: 0)
        let count = 2_000
        var frames: [PageFrameNumber] = []
        for _ in 0..<count {
            let frame = pool.allocate()!
            pool.address(of: frame).storeBytes(of: 0xA5, as: UInt8.self)
            frames.append(frame)
        }
        XCTAssertEqual(pool.residentBytes, count * pageSize, "one resident page per touched frame")
        for frame in frames { pool.free(frame) }
        let keptBeforeTrim = pool.residentBytes / pageSize
        XCTAssertLessThanOrEqual(
            keptBeforeTrim, PageFramePool.residentFreeReserve + PageFramePool.releaseBatch)
        XCTAssertEqual(keptBeforeTrim, pool.residentFreeFrames)
        XCTAssertGreaterThanOrEqual(pool.framesReturnedToOS, count - keptBeforeTrim)
        pool.releaseFreeFrames()
        XCTAssertLessThanOrEqual(pool.residentBytes / pageSize, PageFramePool.residentFreeReserve)
        pool.releaseFreeFrames(keeping: 0)
        XCTAssertEqual(pool.residentBytes, 0)
        XCTAssertEqual(pool.framesReturnedToOS, count)
        pool.checkInvariants()
        // A frame given back reads as zeros when handed out again.
        var zeroed = 0
        for _ in 0..<count {
            let frame = pool.allocate()!
            if pool.address(of: frame).load(as: UInt8.self) == 0 { zeroed += 1 }
        }
        XCTAssertEqual(zeroed, count)
        pool.checkInvariants()
    }

    func testFreedFramesStayResidentUntilIdleThenGoBack() throws {
        let idle = 30
        let pool = PageFramePool(frameCount: 4_096, releaseAfterIdleMilliseconds: idle)
        let count = 1_000
        var frames = (0..<count).map { _ in pool.allocate()! }
        for frame in frames { pool.address(of: frame).storeBytes(of: 1, as: UInt8.self) }
        // A burst of frees, then the same number of allocations: no frame has
        // been idle long enough, so none went back and none is faulted in again.
        for frame in frames { pool.free(frame) }
        XCTAssertEqual(pool.framesReturnedToOS, 0)
        XCTAssertEqual(pool.residentBytes, count * pageSize)
        XCTAssertEqual(pool.releaseIdleFrames(), 0, "nothing has been free for \(idle) ms yet")
        frames = (0..<count).map { _ in pool.allocate()! }
        XCTAssertEqual(pool.framesReturnedToOS, 0)
        for frame in frames { pool.free(frame) }
        // Once they have stayed free that long, all beyond the reserve go back
        // (read from the kernel). The wait is an idle period, not a timing bound.
        var request = timespec(tv_sec: 0, tv_nsec: (idle * 4) * 1_000_000)
        nanosleep(&request, nil)
        XCTAssertEqual(pool.releaseIdleFrames(), count - PageFramePool.residentFreeReserve)
        XCTAssertEqual(pool.residentBytes, PageFramePool.residentFreeReserve * pageSize)
        // A free after the idle time gives the oldest back by itself, too.
        let more = (0..<(PageFramePool.residentFreeReserve + PageFramePool.releaseBatch + 1)).map {
            _ in
            pool.allocate()!
        }
        for frame in more { pool.free(frame) }
        nanosleep(&request, nil)
        let extra = pool.allocate()!
        pool.free(extra)
        XCTAssertGreaterThan(pool.framesReturnedToOS, count - PageFramePool.residentFreeReserve)
        pool.checkInvariants()
    }

    func testRecentlyFreedFramesAreReusedFirst() {
        let pool = PageFramePool(frameCount: 1_000)
        let frames = (0..<200).map { _ in pool.allocate()! }
        for frame in frames { pool.free(frame) }
        // The last frame freed is still resident: handed out first.
        XCTAssertEqual(pool.allocate(), frames.last)
        pool.checkInvariants()
    }

    func testAddressSpaceRefusalIsATypedError() {
        // 4 EiB: more than any 64-bit machine maps; mmap refuses, no trap.
        XCTAssertThrowsError(try ReservedRegion(byteCount: 1 << 62)) { error in
            guard case PageFramePoolError.addressSpaceUnavailable(let bytes, let code) = error
            else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(bytes, 1 << 62)
            XCTAssertNotEqual(code, 0)
        }
        let pool = try? PageFramePool.reserving(frameCount: 16)
        XCTAssertEqual(pool?.frameCount, 16)
    }
}

/// The pool against a model: random allocate/free (with double frees and
/// forced releases) keeps the free lists and the counters exact.
final class PageFramePoolModelTests: XCTestCase {
    func testRandomAllocateFreeAgainstModel() {
        let frameCount = 300
        let pool = PageFramePool(frameCount: frameCount)
        pool.setTrapsOnInvalidFree(false)
        var rng = SplitMix64(seed: 0x5EED_F00D)
        var held = Set<UInt32>()
        var allocated = 0
        var freed = 0
        var invalid = 0
        for step in 0..<20_000 {
            switch rng.next() % 10 {
            case 0..<5:
                if let frame = pool.allocate() {
                    XCTAssertTrue(held.insert(frame.rawValue).inserted, "handed out twice")
                    allocated += 1
                } else {
                    XCTAssertEqual(held.count, frameCount, "refused while frames were free")
                }
            case 5..<9:
                guard let frame = held.randomElement(using: &rng) else { continue }
                held.remove(frame)
                pool.free(PageFrameNumber(rawValue: frame))
                freed += 1
            case 9:
                if step % 2 == 0 {
                    // A free of a frame not held: counted, nothing else changes.
                    let frame = UInt32(rng.next() % UInt64(frameCount + 10))
                    if !held.contains(frame) {
                        pool.free(PageFrameNumber(rawValue: frame))
                        invalid += 1
                    }
                } else {
                    pool.releaseFreeFrames(keeping: Int(rng.next() % 80))
                }
            default: break
            }
            XCTAssertEqual(pool.framesInUse, held.count)
            pool.checkInvariants()
        }
        XCTAssertEqual(pool.allocatedTotal, allocated)
        XCTAssertEqual(pool.freedTotal, freed)
        XCTAssertEqual(pool.invalidFrees, invalid)
    }
}
