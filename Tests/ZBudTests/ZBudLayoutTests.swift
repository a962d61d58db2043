import XCTest
import ZCacheSupport

@testable import ZBud

/// Where buds live in a frame: bud 0 from offset 0, bud 1 ending at 4096,
/// each starting with its 32-byte owner handle, sizes rounded to 64-byte chunks.
final class ZBudLayoutTests: XCTestCase {
    /// Data size -> (chunks with the owner, offset of bud 1), worked out by hand
    /// from ceil((size + 32) / 64) and 4096 - 64 * chunks.
    let reference: [(size: Int, chunks: Int, bud1Offset: Int)] = [
        (1, 1, 4032), (32, 1, 4032), (33, 2, 3968), (63, 2, 3968), (64, 2, 3968),
        (65, 2, 3968), (96, 2, 3968), (97, 3, 3904), (2000, 32, 2048), (3968, 63, 64),
        (4000, 63, 64),
    ]

    func testChunkCountsAndOffsets() {
        XCTAssertEqual(ZBud.maxZPageSize, 4000)
        for row in reference {
            XCTAssertEqual(ZBud.chunks(forDataSize: row.size), row.chunks, "size \(row.size)")
            XCTAssertEqual(ZBud.budOffset(bud: 0, dataSize: row.size), 0)
            XCTAssertEqual(ZBud.budOffset(bud: 1, dataSize: row.size), row.bud1Offset, "size \(row.size)")
        }
        XCTAssertNil(ZBud.chunks(forDataSize: 4001), "4001 bytes must be refused")
        XCTAssertNil(ZBud.chunks(forDataSize: -1))
    }

    func testBytesLandWhereTheLayoutSays() {
        for row in reference {
            // The partner fills the rest of the frame exactly.
            let partnerSize = dataSize(chunks: 64 - row.chunks)
            for sizeInBud1 in [true, false] {
                let harness = ZBudHarness(frames: 2)
                let zbud = harness.ephemeral
                let (size0, size1) = sizeInBud1 ? (partnerSize, row.size) : (row.size, partnerSize)
                let data0 = zpageBytes(seed: 1, count: size0)
                let data1 = zpageBytes(seed: 2, count: size1)
                let ref0 = harness.store(.ephemeral, owner: testOwner(10), data: data0)!
                let ref1 = harness.store(.ephemeral, owner: testOwner(11), data: data1)!
                XCTAssertEqual(ref0.bud, 0)
                XCTAssertEqual(ref1.bud, 1)
                XCTAssertEqual(ref1.frame, ref0.frame, "the partner must pair with the first bud")
                XCTAssertEqual(harness.pool.framesInUse, 1)

                let frame = UnsafeRawBufferPointer(
                    start: harness.pool.address(of: ref0.frame), count: pageSize)
                let offset1 = pageSize - 64 * ZBud.chunks(forDataSize: size1)!
                XCTAssertEqual(offset1, ZBud.budOffset(bud: 1, dataSize: size1))
                XCTAssertEqual(Array(frame[32..<32 + size0]), data0, "bud 0 data, sizes \(size0)/\(size1)")
                XCTAssertEqual(Array(frame[offset1 + 32..<offset1 + 32 + size1]), data1)
                XCTAssertEqual(frame.load(fromByteOffset: 0, as: UInt64.self), 10, "bud 0 owner at 0")
                XCTAssertEqual(frame.load(fromByteOffset: offset1, as: UInt64.self), 11, "bud 1 owner")
                // Bud 1 ends at the frame's end when its data fills its chunks.
                if (size1 + 32) % 64 == 0 { XCTAssertEqual(offset1 + 32 + size1, pageSize) }
                XCTAssertLessThanOrEqual(64 * ZBud.chunks(forDataSize: size0)!, offset1)

                XCTAssertEqual(harness.read(.ephemeral, ref0), data0)
                XCTAssertEqual(harness.read(.ephemeral, ref1), data1)
                XCTAssertEqual(zbud.owner(of: ref0), testOwner(10))
                XCTAssertEqual(zbud.owner(of: ref1), testOwner(11))
                XCTAssertEqual(zbud.stats.zbytes, size0 + size1 + 64, "zbytes include the owners")
                XCTAssertEqual(zbud.stats.buddiedCount, 1)
                harness.checkAccounting()
            }
        }
    }

    func testOversizedZPageIsRefusedByMatching() {
        let harness = ZBudHarness(frames: 2)
        _ = harness.store(.ephemeral, owner: testOwner(1), data: [])  // 1 chunk: room for 63 more
        let refused = zpageBytes(seed: 3, count: 4001).withUnsafeBytes {
            harness.ephemeral.createInMatchingFrame(owner: testOwner(2), data: $0)
        }
        XCTAssertNil(refused)
        let accepted = zpageBytes(seed: 3, count: 4000).withUnsafeBytes {
            harness.ephemeral.createInMatchingFrame(owner: testOwner(2), data: $0)
        }
        XCTAssertEqual(accepted?.bud, 1, "4000 bytes (63 chunks) pair with a 1-chunk bud")
        XCTAssertEqual(harness.ephemeral.stats.zpages, 2)
        harness.ephemeral.finishCreate(accepted!)
        harness.checkAccounting()
    }

    func testEmptyZPageIsStoredAsOwnerOnly() {
        let harness = ZBudHarness(frames: 1)
        let ref = harness.store(.persistent, owner: testOwner(7), data: [])!
        XCTAssertEqual(harness.read(.persistent, ref), [])
        XCTAssertEqual(harness.persistent.owner(of: ref), testOwner(7))
        XCTAssertEqual(harness.persistent.stats.zbytes, 32)
        XCTAssertTrue(harness.release(.persistent, ref))
        harness.checkAccounting()
    }

    func testRefEncoding() {
        let ref = ZBudRef(frame: PageFrameNumber(rawValue: 12345), bud: 1)
        XCTAssertEqual(ref.rawValue, 12345 << 1 | 1)
        XCTAssertEqual(ZBudRef(rawValue: ref.rawValue).frame.rawValue, 12345)
        XCTAssertEqual(ZBudRef(rawValue: ref.rawValue).bud, 1)
    }
}
