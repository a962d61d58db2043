// The swap paths wait for a busy entry by sleeping, and the swap-in from zcache
// takes its shortest path: one slot-map step to end the entry, no invalidate of
// the key the exclusive load removed.

import Foundation
import SwapDevice
import Synchronization
import XCTest

@testable import ZCache

#if canImport(Glibc)
    import Glibc
#endif

/// CPU time the calling thread has used, in microseconds.
private func threadCPUMicroseconds() -> Int {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return time.tv_sec * 1_000_000 + time.tv_nsec / 1000
}

final class SwapWaitTests: XCTestCase {
    private func makeCache() throws -> (ZCache, SwapDevice) {
        let cache = ZCache(configuration: ZCacheConfiguration())
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 64)
        try cache.attachSwapDevice(device)
        return (cache, device)
    }

    /// A swap-in of an entry whose has-cache bit someone else holds sleeps until
    /// the bit is cleared, then finds the page in zcache. It uses next to no CPU
    /// while it waits (a `sched_yield` loop would use a core's worth, or as much
    /// as the scheduler gives it).
    func testSwapInSleepsWhileTheEntryIsBeingPrepared() throws {
        let (cache, device) = try makeCache()
        let original = versionedPage(id: 1, version: 1)
        let entry = try original.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) }
        XCTAssertEqual(device.slots.swapcachePrepare(entry), .prepared)  // we hold the bit

        let finished = DispatchSemaphore(value: 0)
        let result = LockedValue<(source: ZCache.SwapInSource?, bytes: [UInt8], cpu: Int)>(
            (nil, [], 0))
        Thread {
            var page = [UInt8](repeating: 0, count: pageSize)
            let before = threadCPUMicroseconds()
            let source = try? page.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
            let cpu = threadCPUMicroseconds() - before
            result.withLock { $0 = (source, page, cpu) }
            finished.signal()
        }.start()

        // The swap-in cannot finish while we hold the bit.
        XCTAssertEqual(finished.wait(timeout: .now() + .milliseconds(300)), .timedOut)
        device.slots.swapcacheFree(entry)  // wakes it
        XCTAssertEqual(finished.wait(timeout: .now() + .seconds(30)), .success)
        let (source, bytes, cpu) = result.withLock { $0 }
        XCTAssertEqual(source, .zcache)
        XCTAssertEqual(bytes, original)
        XCTAssertLessThan(cpu, 60_000, "the waiting swap-in used \(cpu) us of CPU in 300 ms")
        XCTAssertEqual(device.slots.usedSlots, 0)
    }

    /// `lock()` of a locked swap-cache page sleeps until `unlock()`.
    func testPageLockSleepsUntilUnlocked() throws {
        let entry = try XCTUnwrap(SwapEntry(type: 3, offset: 77))
        let page = SwapCachePage(entry: entry, flags: [.locked])
        let acquired = DispatchSemaphore(value: 0)
        Thread {
            page.lock()
            acquired.signal()
        }.start()
        XCTAssertEqual(acquired.wait(timeout: .now() + .milliseconds(200)), .timedOut)
        page.unlock()
        XCTAssertEqual(acquired.wait(timeout: .now() + .seconds(30)), .success)
        XCTAssertTrue(page.isLocked, "the waiter holds the lock now")
    }

    /// A swap-in from zcache ends the entry without invalidating the key the
    /// exclusive load already removed: `flush_total` does not move, the slot
    /// is free, and zcache holds nothing.
    func testSwapInFromZCacheDoesNotCountAFlush() throws {
        let (cache, device) = try makeCache()
        var entries: [SwapEntry] = []
        for id in 0..<10 {
            let page = versionedPage(id: id, version: 0)
            entries.append(try page.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) })
        }
        let flushesBefore = cache.statistics.zcache.flushTotal
        var page = [UInt8](repeating: 0, count: pageSize)
        for (id, entry) in entries.enumerated() {
            let source = try page.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
            XCTAssertEqual(source, .zcache)
            XCTAssertEqual(page, versionedPage(id: id, version: 0))
        }
        let stats = cache.statistics.zcache
        XCTAssertEqual(stats.flushTotal, flushesBefore)
        XCTAssertEqual(stats.persZPages, 0)
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.slots.badFrees, 0)
        XCTAssertEqual(device.swapCache.count, 0)
    }

    /// With a second owner, the swapped-in page stays in the swap cache (dirty,
    /// holding the has-cache bit) for it; the second owner's swap-in takes it
    /// from there and the slot is free.
    func testSharedEntryKeepsTheSwappedInPageForTheOtherOwner() throws {
        let (cache, device) = try makeCache()
        let original = versionedPage(id: 5, version: 2)
        let entry = try original.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) }
        XCTAssertTrue(device.slots.duplicate(entry))
        var page = [UInt8](repeating: 0, count: pageSize)
        XCTAssertEqual(
            try page.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }, .zcache)
        XCTAssertEqual(device.slots.useCount(entry), 1)
        XCTAssertTrue(device.slots.hasCache(entry))
        let kept = try XCTUnwrap(device.swapCache.find(entry))
        XCTAssertTrue(kept.isDirty && kept.isUpToDate && !kept.isLocked)
        kept.release()
        page = [UInt8](repeating: 0, count: pageSize)
        XCTAssertEqual(
            try page.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }, .swapCache)
        XCTAssertEqual(page, original)
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertEqual(device.slots.badFrees, 0)
    }
}
