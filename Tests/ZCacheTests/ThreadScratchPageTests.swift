// The per-thread scratch page that puts and gets use for compressed bytes.

import Foundation
import XCTest
import ZCacheSupport

final class ThreadScratchPageTests: XCTestCase {
    private func address(_ buffer: UnsafeMutableRawBufferPointer) -> UInt {
        UInt(bitPattern: buffer.baseAddress)
    }

    func testAThreadGetsItsOwnPageAgainAndANestedUseAnotherBuffer() {
        let first = ThreadScratchPage.with(byteCount: pageSize) { address($0) }
        let again = ThreadScratchPage.with(byteCount: 100) { address($0) }
        XCTAssertEqual(first, again, "the thread's page is kept between uses")
        ThreadScratchPage.with(byteCount: pageSize) { outer in
            outer.initializeMemory(as: UInt8.self, repeating: 0xA5)
            ThreadScratchPage.with(byteCount: pageSize) { inner in
                XCTAssertNotEqual(
                    address(inner), address(outer), "a nested use is not lent the page")
                inner.initializeMemory(as: UInt8.self, repeating: 0x5A)
            }
            XCTAssertTrue(outer.allSatisfy { $0 == 0xA5 }, "the nested use left the page alone")
        }
        // Bigger than the page: a temporary allocation, usable in full.
        ThreadScratchPage.with(byteCount: 3 * pageSize) { big in
            XCTAssertEqual(big.count, 3 * pageSize)
            big.initializeMemory(as: UInt8.self, repeating: 1)
        }
    }

    func testThreadsGetDifferentPages() {
        let seen = LockedAddresses()
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        let threads = 4
        for _ in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                start.wait()
                ThreadScratchPage.with(byteCount: pageSize) { buffer in
                    XCTAssertEqual(UInt(bitPattern: buffer.baseAddress) % 16, 0, "16-byte aligned")
                    // Held while the others take theirs: all four are live at once.
                    seen.insert(UInt(bitPattern: buffer.baseAddress))
                    seen.waitForCount(threads)
                }
            }.start()
        }
        for _ in 0..<threads { start.signal() }
        group.wait()
        XCTAssertEqual(seen.count, threads, "no two threads shared a page")
    }
}

/// Addresses seen by several threads, with a wait for a count.
private final class LockedAddresses: @unchecked Sendable {
    private let condition = NSCondition()
    private var addresses: Set<UInt> = []

    func insert(_ address: UInt) {
        condition.lock()
        addresses.insert(address)
        condition.broadcast()
        condition.unlock()
    }

    func waitForCount(_ count: Int) {
        condition.lock()
        while addresses.count < count { condition.wait() }
        condition.unlock()
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return addresses.count
    }
}
