// Runs a test's body under each allocator behind the seam: the body reads
// `allocator` when it builds a cache, and a failure names the allocator it
// happened under. (A loop rather than a subclass per allocator: XCTest on
// Linux does not discover inherited test methods.)

import XCTest

@testable import ZCache

class AllocatorTestCase: XCTestCase {
    /// The allocator of the run in progress.
    private(set) var allocator = ZCacheAllocatorKind.zbud

    /// Runs `body` once per allocator, `allocator` set to it.
    func forEachAllocator(_ body: () throws -> Void) rethrows {
        for kind in ZCacheAllocatorKind.allCases {
            allocator = kind
            try body()
        }
        allocator = .zbud
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
