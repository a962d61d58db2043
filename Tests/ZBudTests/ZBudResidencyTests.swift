import XCTest
import ZCacheSupport

@testable import ZBud

/// ZBud's per-frame arrays are sized for the whole pool but must cost memory
/// only where frames are used (read from the kernel with `mincore`).
final class ZBudResidencyTests: XCTestCase {
    func testEmptyZBudMetadataIsNotResident() {
        let frames = 65_536
        let zbud = ZBud(class: .persistent, frameCount: frames)
        // Only the list heads at the end of the link arrays are written.
        XCTAssertLessThanOrEqual(zbud.metadataResidentBytes, 4 * pageSize)
        XCTAssertLessThanOrEqual(zbud.metadataResidentBytes, frames * pageSize / 100)
    }

    func testMetadataGrowsWithFramesUsed() {
        let harness = ZBudHarness(frames: 65_536)
        let before = harness.persistent.metadataResidentBytes
        for id in 0..<2_000 {
            XCTAssertNotNil(
                harness.store(
                    .persistent, owner: testOwner(UInt64(id)),
                    data: zpageBytes(seed: UInt64(id), count: 3000)))
        }
        let after = harness.persistent.metadataResidentBytes
        XCTAssertGreaterThan(after, before, "metadata of used frames is committed")
        // 2,000 frames of metadata: far below the frames' own 8 MB.
        XCTAssertLessThan(after, 2_000 * pageSize / 20)
        harness.pool.checkInvariants()
    }
}
