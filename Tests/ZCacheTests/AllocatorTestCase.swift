// Runs every test of a test case once per allocator behind the seam: the
// tests read `allocator` when they build a cache, and a failure names the
// allocator it happened under.

import XCTest

@testable import ZCache

class AllocatorTestCase: XCTestCase {
    /// The allocator of the run in progress.
    private(set) var allocator = ZCacheAllocatorKind.zbud

    override func invokeTest() {
        for kind in ZCacheAllocatorKind.allCases {
            allocator = kind
            super.invokeTest()
        }
    }

    override func recordFailure(
        withDescription description: String, inFile filePath: String, atLine lineNumber: Int,
        expected: Bool
    ) {
        super.recordFailure(
            withDescription: "[\(allocator)] \(description)", inFile: filePath,
            atLine: lineNumber, expected: expected)
    }
}
