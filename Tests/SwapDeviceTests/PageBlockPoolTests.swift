// The pool of page blocks behind `PageBuffer`: the last block given is the
// first taken, at most `capacity` are kept, and under AddressSanitizer a kept
// block is poisoned (a use after the buffer's deinit is reported) until taken.
// The ASan pass of scripts/test runs this class; the plain pass checks that
// outside ASan nothing is poisoned. Each test has a pool of its own.

import XCTest

@testable import SwapDevice

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

final class PageBlockPoolTests: XCTestCase {
    /// ASan's own query, when the process runs under it (the reference: the
    /// sanitizer's shadow memory, not the pool's bookkeeping).
    private typealias IsPoisoned = @convention(c) (UnsafeRawPointer) -> Int32
    private let isPoisoned: IsPoisoned? = dlsym(nil, "__asan_address_is_poisoned").map {
        unsafeBitCast($0, to: IsPoisoned.self)
    }

    func testTheLastBlockGivenIsTakenFirstAndTheCapacityHolds() {
        let pool = PageBlockPool(capacity: 3)
        let blocks = (0..<5).map { _ in pool.take() }
        XCTAssertEqual(Set(blocks.map(\.baseAddress)).count, 5, "fresh blocks are distinct")
        for block in blocks {
            XCTAssertEqual(block.count, 4096)
            XCTAssertEqual(Int(bitPattern: block.baseAddress) % 4096, 0, "page-aligned")
            block.initializeMemory(as: UInt8.self, repeating: 0x5A)
        }
        for block in blocks { pool.give(block) }
        XCTAssertEqual(pool.freeBlocks, 3, "two blocks past the capacity went back to malloc")
        // Kept: the first three given, taken back newest first.
        for expected in blocks[0..<3].reversed() {
            XCTAssertEqual(pool.take().baseAddress, expected.baseAddress)
        }
        XCTAssertEqual(pool.freeBlocks, 0)
    }

    func testAKeptBlockIsPoisonedExactlyWhileInThePool() throws {
        let pool = PageBlockPool(capacity: 4)
        let block = pool.take()
        let start = try XCTUnwrap(block.baseAddress)
        if let isPoisoned {
            XCTAssertEqual(isPoisoned(start), 0, "a fresh block is usable")
            pool.give(block)
            for offset in [0, 1, 2048, 4095] {
                XCTAssertEqual(isPoisoned(start + offset), 1, "byte \(offset) of a kept block")
            }
            let again = pool.take()
            XCTAssertEqual(again.baseAddress, start)
            for offset in [0, 4095] { XCTAssertEqual(isPoisoned(start + offset), 0) }
            again.deallocate()
        } else {
            // Not under ASan: no poisoning machinery, and a kept block is
            // plain memory the pool hands back with its bytes as left.
            XCTAssertFalse(AddressSanitizer.isActive)
            block.initializeMemory(as: UInt8.self, repeating: 0xC3)
            pool.give(block)
            let again = pool.take()
            XCTAssertEqual(again.baseAddress, start)
            XCTAssertTrue(again.allSatisfy { $0 == 0xC3 })
            again.deallocate()
        }
    }
}
