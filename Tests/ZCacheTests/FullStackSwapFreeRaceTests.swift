// KNOWN FAILING on main (issue 9 found it): `swapFree` returns the slot to the
// free list before it invalidates the slot's zcache copy. Another thread can
// allocate the slot and store its page in that window; the late invalidate then
// flushes the new owner's page, and the new owner's swap-in reads the stale
// slot from the device. The kernel does the invalidate under `si->lock`, so the
// slot cannot be reused first.
//
// A device with one slot and more threads than cores: every thread spins for the
// slot, so a freed slot is taken at once by a thread on the other core. The race
// is timing-dependent: on 2 cores it fails in 6 of 8 runs within 5 s (most in
// 0.3-2 s); the test runs up to 10 s.

import Dispatch
import Foundation
import Synchronization
import XCTest

@testable import ZCache

final class FullStackSwapFreeRaceStressTests: XCTestCase {
    func testLateInvalidateNeverFlushesTheNextOwnersPage() throws {
        let cache = ZCache(configuration: ZCacheConfiguration())
        let path =
            NSTemporaryDirectory()
            + "zcache-slot-reuse-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        let device = try SwapDevice.create(path: path, pages: 2)  // one slot
        defer { device.close() }
        try cache.attachSwapDevice(device)
        let wrong = Atomic<Int>(0)
        let checked = Atomic<Int>(0)
        /// Readings of the slot map's use count outside 0...1 (it has one slot).
        let impossibleUsedSlots = Atomic<Int>(0)
        let deadline = Date().addingTimeInterval(10)
        let group = DispatchGroup()
        for worker in 0..<6 {
            group.enter()
            Thread {
                defer { group.leave() }
                var page = [UInt8](repeating: 0, count: pageSize)
                var out = [UInt8](repeating: 0, count: pageSize)
                var round = 0
                while wrong.load(ordering: .relaxed) == 0 && Date() < deadline {
                    round += 1
                    // A compressible page unique to (worker, round): stored in zcache.
                    page.withUnsafeMutableBytes {
                        for i in stride(from: 0, to: pageSize, by: 64) {
                            $0.storeBytes(
                                of: UInt64(worker) << 32 | UInt64(round), toByteOffset: i,
                                as: UInt64.self)
                        }
                    }
                    guard
                        let entry = try? page.withUnsafeBytes({
                            try cache.swapOut(page: $0, type: 0)
                        })
                    else { continue }  // the slot is taken
                    do {
                        _ = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
                    } catch {
                        wrong.add(1, ordering: .relaxed)
                        continue
                    }
                    checked.add(1, ordering: .relaxed)
                    if out != page { wrong.add(1, ordering: .relaxed) }
                }
            }.start()
        }
        // Two threads keep the slot map's lock contended, so a swapFree that
        // has freed the slot often waits for it before its invalidate.
        for _ in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                while wrong.load(ordering: .relaxed) == 0 && Date() < deadline {
                    for _ in 0..<64 where !(0...1).contains(device.slots.usedSlots) {
                        impossibleUsedSlots.add(1, ordering: .relaxed)
                    }
                }
            }.start()
        }
        group.wait()
        cache.waitForWriteback()
        print(
            "FullStackSwapFreeRaceStressTests: \(checked.load(ordering: .relaxed)) swap-ins checked, "
                + "\(wrong.load(ordering: .relaxed)) wrong")
        XCTAssertTrue(
            checked.load(ordering: .relaxed) > 1000 || wrong.load(ordering: .relaxed) > 0,
            "the race was hardly exercised")
        XCTAssertEqual(
            wrong.load(ordering: .relaxed), 0,
            "a page was flushed by the previous owner's late swapFree invalidate")
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(
            impossibleUsedSlots.load(ordering: .relaxed), 0,
            "the slot map of a one-slot device counted a number of used slots other than 0 or 1")
    }
}
