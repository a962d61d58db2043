// The lost page of FullStackModelTests, FullStackStressTests and
// FailingSlotRaceStressTests (a bad slot's page swapped in from the device as
// zeros), reproduced at will.
//
// The last `swapFree` of an entry whose page is in the swap cache under
// writeback drops the reference first, then removes the page. In between,
// the write can fail and its completion, seeing the entry unused, drop the
// page and free the slot; a new owner then gets the slot, and its page (here
// one whose writes all fail, so it lives only in the swap cache) must not be
// the one the first free goes on to remove. The test hook runs exactly in
// that gap. Before the fix `swapFree` removed "the entry's page" by entry and
// took the new owner's page: its swap-in then read zeros from the device.

import Dispatch
import Foundation
import Synchronization
import XCTest
import ZCacheSupport

@testable import ZCache

final class SwapFreeSlotReuseTests: AllocatorTestCase {
    /// Page writes that wait at a gate until it opens, then all fail (EIO),
    /// so a page lives only in the swap cache (the header, slot 0, is written).
    private final class FailingWriteGate: Sendable {
        private let opened = Atomic<Bool>(false)
        private let gate = DispatchSemaphore(value: 0)

        func open() {
            opened.store(true, ordering: .releasing)
            gate.signal()
        }

        var syscalls: SwapSyscalls {
            let system = SwapSyscalls.system
            return SwapSyscalls(
                pread: { fd, buffer, offset in system.pread(fd, buffer, offset) },
                pwrite: { [self] fd, buffer, offset in
                    if offset < Int64(pageSize) { return system.pwrite(fd, buffer, offset) }
                    if !opened.load(ordering: .acquiring) {
                        gate.wait()
                        gate.signal()  // let every later writer through too
                    }
                    return -Int(EIO)
                },
                fsync: { fd in system.fsync(fd) })
        }
    }

    func testLastFreeNeverRemovesTheNextOwnersSwapCachePage() throws {
        try forEachAllocator {
            var configuration = ZCacheConfiguration()
            configuration.pageframes = 16
            configuration.allocator = allocator
            let cache = ZCache(configuration: configuration)
            let gate = FailingWriteGate()
            var deviceConfiguration = SwapDevice.Configuration()
            deviceConfiguration.syscalls = gate.syscalls
            let device = try SwapDevice.create(
                path: try scratchSwapPath(self), pages: 4, configuration: deviceConfiguration)
            defer { device.close() }
            try cache.attachSwapDevice(device)
            // Frozen: swap-outs go to the swap cache and the device.
            cache.freeze()

            let first = versionedPage(id: 1, version: 0)
            let second = versionedPage(id: 2, version: 0)
            let entry = try cache.swapOut(first)  // its write waits at the gate
            let nextOwner = LockedValue<SwapEntry?>(nil)
            let hookErrors = LockedValue<[String]>([])
            cache.testHooks.afterLastReferenceDropped.withLock {
                $0 = { freed in
                    // The write fails; its completion sees the entry unused,
                    // drops the page and frees the slot.
                    gate.open()
                    cache.waitForWriteback()
                    guard device.slots.usedSlots == 0 else {
                        return hookErrors.withLock { $0.append("the slot was not freed") }
                    }
                    // The next owner takes the slot (freed slots go first);
                    // its page's writes fail too, so it stays in the swap cache.
                    do {
                        let taken = try cache.swapOut(second)
                        nextOwner.withLock { $0 = taken }
                        if taken != freed {
                            hookErrors.withLock { $0.append("got \(taken), not \(freed)") }
                        }
                    } catch {
                        hookErrors.withLock { $0.append("swapOut threw \(error)") }
                    }
                    cache.waitForWriteback()
                }
            }
            cache.swapFree(entry)
            cache.testHooks.afterLastReferenceDropped.withLock { $0 = nil }

            for error in hookErrors.withLock({ $0 }) { XCTFail("[\(allocator)] \(error)") }
            let taken = try XCTUnwrap(nextOwner.withLock { $0 })
            XCTAssertTrue(
                device.swapCache.hasPage(for: taken),
                "[\(allocator)] the next owner's page left the swap cache")
            let (bytes, source) = try cache.swapIn(taken)
            XCTAssertEqual(source, .swapCache, "[\(allocator)]")
            XCTAssertTrue(bytes == second, "[\(allocator)] the next owner's page came back wrong")
            cache.waitForWriteback()
            XCTAssertEqual(device.swapCache.count, 0)
            XCTAssertEqual(device.slots.usedSlots, 0)
            XCTAssertEqual(device.slots.badFrees, 0)
        }
    }
}
