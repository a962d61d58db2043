import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// Objects stored, read back and freed: every class boundary, objects that
/// cross frames, bad input, fullness order and frames given back.
final class ZSmallocObjectTests: XCTestCase {
    func testFrameRecordPacksPositionAndFullnessInto24Bytes() {
        XCTAssertEqual(MemoryLayout<ZspageFrame>.stride, 24)
        var record = ZspageFrame()
        for position in 0...15 {
            for fullness in 0..<ZSmalloc.fullnessGroups {
                record.position = UInt8(position)
                record.fullness = UInt8(fullness)
                XCTAssertEqual(Int(record.position), position)
                XCTAssertEqual(Int(record.fullness), fullness)
                record.fullness = UInt8(11 - fullness % 12)
                XCTAssertEqual(Int(record.position), position, "a fullness write kept the position")
            }
        }
    }

    func testEveryClassBoundaryRoundTrips() throws {
        let pool = PageFramePool(frameCount: 4_096)
        let zs = ZSmalloc(pool: pool)
        // For each class: the largest and smallest data sizes it serves.
        var sizes: [Int] = [1, 2, 3, 4096, 4095, 4092, 4093]
        for info in ZSmalloc.classTable(maxFramesPerZspage: 4) where !info.isHuge {
            sizes += [info.size - 4, info.smallestMergedSize - 4, info.smallestMergedSize - 3]
        }
        sizes = sizes.filter { $0 >= 1 && $0 <= 4096 }
        var stored: [(ZsHandle, Int)] = []
        // Several of each, so zspages fill and objects cross frames.
        for round in 0..<5 {
            for size in sizes {
                let id = UInt64(round * 10_000 + size)
                stored.append((try zs.store(objectBytes(id: id, count: size)), size))
            }
        }
        zs.checkInvariants()
        for (k, (handle, size)) in stored.enumerated() {
            let id = UInt64((k / sizes.count) * 10_000 + size)
            XCTAssertEqual(zs.readBytes(handle, count: size), objectBytes(id: id, count: size))
        }
        for (handle, _) in stored { zs.free(handle) }
        XCTAssertEqual(zs.framesInUse, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
    }

    func testObjectsCrossingFramesReadBackIntact() throws {
        let pool = PageFramePool(frameCount: 512)
        let zs = ZSmalloc(pool: pool)
        // 1500-byte objects (slot 1504 or so): most zspages have objects that
        // start in one frame and end in the next.
        var crossing = 0
        var handles: [ZsHandle] = []
        for id in 0..<300 {
            let handle = try zs.store(objectBytes(id: UInt64(id), count: 1500))
            handles.append(handle)
            if zs.crossesFrames(handle, dataSize: 1500) { crossing += 1 }
        }
        XCTAssertGreaterThan(crossing, 50, "the test must exercise objects across frames")
        for (id, handle) in handles.enumerated() {
            XCTAssertEqual(
                zs.readBytes(handle, count: 1500), objectBytes(id: UInt64(id), count: 1500))
            // A prefix reads too (the allocator does not keep exact sizes).
            XCTAssertEqual(
                zs.readBytes(handle, count: 7),
                Array(objectBytes(id: UInt64(id), count: 1500)[0..<7]))
        }
        for (id, handle) in handles.enumerated().reversed() {
            XCTAssertEqual(
                zs.readAndFreeBytes(handle, count: 1500), objectBytes(id: UInt64(id), count: 1500))
        }
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
    }

    func testBadInputIsATypedErrorOrFalse() throws {
        let pool = PageFramePool(frameCount: 16)
        let zs = ZSmalloc(pool: pool)
        XCTAssertThrowsError(try zs.store([])) { XCTAssertEqual($0 as? ZSmallocError, .zeroSize) }
        XCTAssertThrowsError(try zs.store([UInt8](repeating: 1, count: 4097))) {
            XCTAssertEqual($0 as? ZSmallocError, .tooLarge(4097))
        }
        let handle = try zs.store(objectBytes(id: 1, count: 100))
        // Reading more than the slot holds, or into a small buffer: refused.
        XCTAssertNil(zs.readBytes(handle, count: 4000))
        var small = [UInt8](repeating: 0, count: 10)
        XCTAssertFalse(small.withUnsafeMutableBytes { zs.read(handle, size: 100, into: $0) })
        // Handles that name nothing: unknown class, merged-away class, unused slot.
        for bad in [UInt32(255) << 24, UInt32(0x00FF_FFFF), handle.rawValue + 1] {
            XCTAssertNil(zs.readBytes(ZsHandle(rawValue: bad), count: 10))
        }
        zs.setTrapsOnInvalidFree(false)
        zs.free(handle)
        zs.free(handle)  // double free: counted
        zs.free(ZsHandle(rawValue: 0xFFFF_FFFF))
        XCTAssertNil(zs.readBytes(handle, count: 100))
        XCTAssertNil(zs.readAndFreeBytes(handle, count: 100))
        XCTAssertEqual(zs.stats.invalidFrees, 2)
        XCTAssertEqual(pool.framesInUse, 0)
        zs.checkInvariants()
    }

    func testPoolExhaustionIsNoMemoryAndLosesNothing() throws {
        let pool = PageFramePool(frameCount: 8)
        let zs = ZSmalloc(pool: pool)
        var handles: [ZsHandle] = []
        var refused = 0
        for id in 0..<100 {
            do {
                handles.append(try zs.store(objectBytes(id: UInt64(id), count: 3000)))
            } catch {
                XCTAssertEqual(error, .noMemory)
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertEqual(zs.stats.noMemoryFailures, refused)
        XCTAssertLessThanOrEqual(zs.framesInUse, 8)
        for (k, handle) in handles.enumerated() {
            XCTAssertNotNil(zs.readBytes(handle, count: 3000), "object \(k)")
        }
        zs.checkInvariants()
    }

    func testStoresFillTheFullestZspageFirst() throws {
        let pool = PageFramePool(frameCount: 256)
        // 4-frame zspages, so the numbers below are the kernel's worked example.
        var configuration = ZSmalloc.Configuration()
        configuration.maxFramesPerZspage = 4
        let zs = ZSmalloc(pool: pool, configuration: configuration)
        let size = 200  // slot 208: 59 objects in 3 frames
        let perZspage = 59
        var handles = try (0..<(3 * perZspage)).map {
            try zs.store(objectBytes(id: UInt64($0), count: size))
        }
        XCTAssertEqual(zs.framesInUse, 9)
        // Free most of zspage 0 and a few of zspage 2: the next stores go to
        // zspage 2 (the fullest non-full) before zspage 0.
        for k in 0..<50 { zs.free(handles[k]) }
        for k in (2 * perZspage)..<(2 * perZspage + 5) { zs.free(handles[k]) }
        let before = zs.stats.classes.first { $0.size == 208 }!.zspagesByFullness
        XCTAssertEqual(before[ZSmalloc.fullGroup], 1)
        for k in 0..<5 {
            handles[2 * perZspage + k] = try zs.store(
                objectBytes(id: UInt64(1000 + k), count: size))
        }
        let after = zs.stats.classes.first { $0.size == 208 }!.zspagesByFullness
        XCTAssertEqual(after[ZSmalloc.fullGroup], 2, "the 90 %-full zspage was filled")
        XCTAssertEqual(zs.framesInUse, 9)
        zs.checkInvariants()
    }

    /// A single free or read-and-free that empties a zspage of the longest
    /// length gives all its frames back (they wait in an inline buffer of
    /// 16 while the class lock is held).
    func testTheLastFreeOfALongestZspageGivesBackEveryFrame() throws {
        let longest = ZSmalloc.Configuration().maxFramesPerZspage
        let info = try XCTUnwrap(
            ZSmalloc.classTable(maxFramesPerZspage: longest).first {
                $0.framesPerZspage == longest
            })
        let dataSize = info.size - 4
        for viaReadAndFree in [false, true] {
            let pool = PageFramePool(frameCount: 64)
            let zs = ZSmalloc(pool: pool)
            let handles = try (0..<info.objectsPerZspage).map { id in
                try zs.store(objectBytes(id: UInt64(id), count: dataSize))
            }
            XCTAssertEqual(zs.framesInUse, longest, "one full zspage")
            for (id, handle) in handles.enumerated() {
                XCTAssertEqual(zs.framesInUse, longest, "frames before the last free")
                if viaReadAndFree {
                    var bytes = [UInt8](repeating: 0, count: dataSize)
                    XCTAssertTrue(
                        bytes.withUnsafeMutableBytes {
                            zs.readAndFree(handle, size: dataSize, into: $0)
                        })
                    XCTAssertEqual(bytes, objectBytes(id: UInt64(id), count: dataSize))
                } else {
                    zs.free(handle)
                }
            }
            XCTAssertEqual(zs.framesInUse, 0)
            XCTAssertEqual(pool.framesInUse, 0)
            zs.checkInvariants()
        }
    }

    func testEmptyAllocatorAndFramesGivenBackAreNotResident() throws {
        let frames = 65_536
        // Idle time 0: frames beyond the reserve go back as soon as they are freed.
        let pool = PageFramePool(frameCount: frames, releaseAfterIdleMilliseconds: 0)
        let zs = ZSmalloc(pool: pool)
        let configured = frames * pageSize
        XCTAssertLessThanOrEqual(
            zs.metadataResidentBytes + pool.metadataResidentBytes, configured / 100)
        XCTAssertEqual(pool.residentBytes, 0)
        var handles: [ZsHandle] = []
        for id in 0..<20_000 {
            handles.append(try zs.store(objectBytes(id: UInt64(id), count: 1000 + id % 2000)))
        }
        let full = pool.residentBytes
        // Every attached frame holds object bytes (a frame is attached only when
        // an object slot reaches it, and the data almost always does too).
        XCTAssertLessThanOrEqual(full, zs.framesInUse * pageSize)
        XCTAssertGreaterThanOrEqual(Double(full), 0.95 * Double(zs.framesInUse * pageSize))
        for handle in handles { zs.free(handle) }
        XCTAssertEqual(zs.framesInUse, 0)
        // Read from the kernel: only the pool's small free reserve stays.
        XCTAssertLessThanOrEqual(
            pool.residentBytes,
            (PageFramePool.residentFreeReserve + PageFramePool.releaseBatch) * pageSize)
        XCTAssertLessThanOrEqual(
            pool.residentBytes + zs.metadataResidentBytes + pool.metadataResidentBytes,
            configured / 100 + PageFramePool.residentFreeReserve * pageSize + PageFramePool
                .releaseBatch * pageSize)
        zs.checkInvariants()
    }
}
