// Writeback end to end: pages go out through swapOut, writeback moves every
// persistent frame to the swap file, the file is read back directly and compared
// with what was stored, and swapIn returns the same bytes from the device. Also:
// writeback when allocation is easy (the seed's bug), pages taken from the host,
// the outstanding cap on a slow device, and injected write errors.

import Foundation
import XCTest

@testable import ZCache

final class WritebackTests: XCTestCase {
    private func makeCache(
        pageframes: Int = 4096, cap: Int = 6400, host: TestHost? = nil,
        configure: (inout ZCacheConfiguration) -> Void = { _ in }
    ) -> ZCache {
        var configuration = ZCacheConfiguration()
        configuration.allocator = .zbud  // writeback of whole zbud frames
        configuration.pageframes = pageframes
        configuration.maxOutstandingWritebackPages = cap
        configure(&configuration)
        return ZCache(configuration: configuration, host: host)
    }

    /// Real pages from system files plus generated ones: thousands, distinct.
    private func manyPages() -> [[UInt8]] {
        let real = TestPages.system(fileCount: 4, pagesPerFile: 256).pages.map(\.bytes)
        let generated = (0..<2000).map { versionedPage(id: $0, version: 0) }
        let structured = (0..<200).map { TestPages.structured(seed: UInt64($0) + 10_000).bytes }
        return real + generated + structured + [
            TestPages.zero().bytes, TestPages.random(seed: 7).bytes,
        ]
    }

    func testEndToEndWritebackReachesTheSwapFileBitIdentical() throws {
        let cache = makeCache()
        let path = try scratchSwapPath(self)
        let device = try SwapDevice.create(path: path, pages: 4096)
        try cache.attachSwapDevice(device)

        let pages = manyPages()
        XCTAssertGreaterThan(pages.count, 2000)
        var entries: [SwapEntry] = []
        for page in pages { entries.append(try cache.swapOut(page)) }
        XCTAssertEqual(Set(entries).count, pages.count, "each swapOut has its own slot")

        let before = cache.statistics.zcache
        let zeroPages = pages.filter { $0.allSatisfy { $0 == 0 } }.count
        XCTAssertEqual(before.zeroFilledPages, zeroPages)
        XCTAssertGreaterThan(before.persZPages, 2000)
        XCTAssertGreaterThan(before.persPageframes, 0)
        // Stored compressed, zero-filled, or refused (and then written by swapOut).
        XCTAssertEqual(
            before.persZPages + before.zeroFilledPages + before.failedPersPuts, pages.count)

        let written = cache.writebackEverything()
        XCTAssertEqual(written, before.persZPages, "every persistent page submitted once")
        let after = cache.statistics
        XCTAssertEqual(after.zcache.writtenbackPages, before.persZPages)
        XCTAssertEqual(after.zcache.persPageframes, 0)
        XCTAssertEqual(after.zcache.persZPages, 0)
        XCTAssertEqual(after.zcache.outstandingWritebackPages, 0)
        XCTAssertEqual(after.zcache.writebackWriteErrors, 0)
        XCTAssertEqual(after.zbud.persZombieCount, 0)
        XCTAssertEqual(after.framePool.writebackPagesHeld, 0)
        XCTAssertEqual(after.framePool.framesInUse, 0, "gathered frames went back to the pool")
        XCTAssertEqual(device.swapCache.count, 0, "written pages left the swap cache")
        XCTAssertEqual(
            device.stats.pagesWritten, before.persZPages + before.failedPersPuts,
            "one device write per written-back page and per refused page")
        XCTAssertTrue(cache.checkFrameAccounting())

        // The swap file itself holds each page at slot * 4096.
        for (entry, page) in zip(entries, pages) {
            let onDisk = try readSlotFromFile(path, offset: entry.offset)
            XCTAssertTrue(onDisk == page, "slot \(entry.offset) differs from the stored page")
        }

        var sources: [ZCache.SwapInSource: Int] = [:]
        for (entry, page) in zip(entries, pages) {
            let (bytes, source) = try cache.swapIn(entry)
            sources[source, default: 0] += 1
            XCTAssertTrue(bytes == page, "swapIn of \(entry) from \(source)")
            let isZero = page.allSatisfy { $0 == 0 }
            XCTAssertEqual(source, isZero ? .zcache : .device, "entry \(entry)")
        }
        XCTAssertEqual(sources[.device], pages.count - zeroPages)
        let end = cache.statistics.zcache
        XCTAssertEqual(end.persZPages, 0)
        XCTAssertEqual(end.zeroFilledPages, 0)
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.slots.badFrees, 0)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
        cache.checkInvariants()
    }

    /// The seed gathered pages, then tested variables that were set only when
    /// both allocations had failed: with a big free pool it never wrote back.
    func testWritebackHappensWhenAllocationIsEasy() throws {
        let cache = makeCache(pageframes: 16_384)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 256)
        try cache.attachSwapDevice(device)
        let pages = (0..<64).map { versionedPage(id: $0, version: 0) }
        let entries = try pages.map { try cache.swapOut($0) }
        let frames = cache.statistics.zcache.persPageframes
        XCTAssertGreaterThan(frames, 1)
        let freeBefore = cache.statistics.framePool.frames - cache.statistics.framePool.framesInUse
        XCTAssertGreaterThan(freeBefore, 16_000, "allocation is easy")

        XCTAssertEqual(cache.writeback(pageframes: 1), 1)
        cache.waitForWriteback()
        let stats = cache.statistics.zcache
        XCTAssertGreaterThan(stats.writtenbackPages, 0)
        XCTAssertLessThanOrEqual(stats.writtenbackPages, 2)
        XCTAssertEqual(stats.persPageframes, frames - 1)
        XCTAssertEqual(stats.failedAlloc, 0, "the pages came from the pool without forcing")

        // The shrinker writes back too, with no anonymous LRU to cover zcache.
        let result = cache.shrinkerScan(
            counts: HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0))
        XCTAssertEqual(result.writebackTarget, frames - 1)
        XCTAssertEqual(result.writtenBack, 64 - stats.writtenbackPages, "the pages of the rest")
        cache.waitForWriteback()
        XCTAssertEqual(cache.statistics.zcache.writtenbackPages, 64)
        for (entry, page) in zip(entries, pages) {
            let (bytes, source) = try cache.swapIn(entry)
            XCTAssertEqual(source, .device)
            XCTAssertTrue(bytes == page)
        }
        XCTAssertEqual(device.slots.usedSlots, 0)
    }

    /// When zcache's pool is full of persistent frames and there is no
    /// ephemeral frame to evict, writeback takes pages from the host ("forcing")
    /// and gives them back when the write completes; without a host page it stops.
    func testWritebackTakesHostPagesWhenThePoolIsFull() throws {
        let host = TestHost(forcedBudget: 0)
        let cache = makeCache(pageframes: 32, host: host)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 512)
        try cache.attachSwapDevice(device)
        var stored: [(SwapEntry, [UInt8])] = []
        for id in 0..<200 {
            let page = versionedPage(id: id, version: 0)
            stored.append((try cache.swapOut(page), page))
        }
        var stats = cache.statistics
        XCTAssertEqual(stats.zcache.persPageframes, 32, "the pool is full")
        XCTAssertGreaterThan(stats.zcache.failedPersPuts, 0, "later pages went to the device")

        XCTAssertEqual(cache.writeback(pageframes: 1), 0, "no page to write into")
        XCTAssertEqual(cache.statistics.zcache.outstandingWritebackPages, 0, "cap slots returned")
        XCTAssertEqual(cache.statistics.zcache.persPageframes, 32)

        host.state.withLock { $0.forcedBudget = 2 }
        let zpages = stats.zcache.persZPages
        XCTAssertEqual(cache.writeback(pageframes: 1), 1)
        cache.waitForWriteback()
        stats = cache.statistics
        XCTAssertEqual(stats.zcache.persPageframes, 31)
        XCTAssertGreaterThan(stats.zcache.writtenbackPages, 0)
        XCTAssertEqual(stats.zcache.writtenbackPages, zpages - stats.zcache.persZPages)
        let hostState = host.state.withLock { $0 }
        XCTAssertEqual(hostState.forcedTaken, 2, "both pages of the frame's reservation")
        XCTAssertEqual(hostState.forcedInUse, 0, "host pages given back on completion")
        XCTAssertTrue(cache.checkFrameAccounting())

        for (entry, page) in stored {
            let (bytes, _) = try cache.swapIn(entry)
            XCTAssertTrue(bytes == page, "entry \(entry)")
        }
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
    }

    func testWritebackDisabledWritesNothing() throws {
        let cache = makeCache { $0.writebackEnabled = false }
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 64)
        try cache.attachSwapDevice(device)
        let entry = try cache.swapOut(versionedPage(id: 1, version: 0))
        XCTAssertEqual(cache.writeback(pageframes: 10), 0)
        XCTAssertEqual(
            cache.shrinkerScan(
                counts: .init(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0)
            ).writtenBack, 0)
        cache.waitForWriteback()
        XCTAssertEqual(cache.statistics.zcache.writtenbackPages, 0)
        XCTAssertEqual(try cache.swapIn(entry).1, .zcache)
    }

    // MARK: Shared entries

    /// An entry with two references (a forked process's page tables, as
    /// `swap_duplicate` makes): each owner's swap-in gets the page, whether it
    /// was in zcache (an exclusive load removes it) or written back.
    func testSharedEntrySwapsInForEachOwner() throws {
        let cache = makeCache()
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 64)
        try cache.attachSwapDevice(device)
        let inZcache = versionedPage(id: 1, version: 0)
        let writtenBack = versionedPage(id: 2, version: 0)
        let second = try cache.swapOut(writtenBack)
        XCTAssertTrue(device.slots.duplicate(second))
        XCTAssertEqual(cache.writebackEverything(), 1)
        let first = try cache.swapOut(inZcache)
        XCTAssertTrue(device.slots.duplicate(first))
        XCTAssertEqual(device.slots.useCount(first), 2)
        XCTAssertTrue(try readSlotFromFile(device.path, offset: first.offset) != inZcache)
        for (entry, page, label) in [(first, inZcache, "zcache"), (second, writtenBack, "device")] {
            let (bytes1, source1) = try cache.swapIn(entry)
            XCTAssertTrue(bytes1 == page, "\(label): first owner")
            XCTAssertEqual(device.slots.useCount(entry), 1)
            let (bytes2, source2) = try cache.swapIn(entry)
            XCTAssertTrue(
                bytes2 == page, "\(label): second owner (first from \(source1), then \(source2))")
        }
        cache.waitForWriteback()
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
    }

    // MARK: The cap on a slow device

    private func runCapTest(cap: Int, pages count: Int, latency: UInt32) throws -> (
        peak: Int, pages: Int
    ) {
        let injector = FaultInjector(WriteFaultPlan(latencyMicroseconds: latency))
        let cache = makeCache(pageframes: 8192, cap: cap)
        let path = try scratchSwapPath(self)
        let device = try SwapDevice.create(
            path: path, pages: count + 64, configuration: faultyDeviceConfiguration(injector))
        try cache.attachSwapDevice(device)
        var stored: [(SwapEntry, [UInt8])] = []
        for id in 0..<count {
            let page = versionedPage(id: id, version: 0)
            stored.append((try cache.swapOut(page), page))
        }
        let zpages = cache.statistics.zcache.persZPages
        XCTAssertEqual(zpages, count)
        // Keep asking without waiting: writeback stops at the cap and resumes as
        // writes complete.
        var capHits = 0
        let deadline = Date().addingTimeInterval(60)
        while cache.statistics.zcache.persPageframes > 0 && Date() < deadline {
            if cache.writeback(pageframes: Int.max) == 0 { usleep(200) }
            let now = cache.statistics.zcache.outstandingWritebackPages
            XCTAssertLessThanOrEqual(now, cap)
            capHits = cache.statistics.zcache.writebackCapReached
        }
        cache.waitForWriteback()
        let stats = cache.statistics.zcache
        XCTAssertEqual(stats.persPageframes, 0)
        XCTAssertEqual(stats.writtenbackPages, count)
        XCTAssertLessThanOrEqual(stats.outstandingWritebackPagesMax, cap)
        XCTAssertEqual(stats.outstandingWritebackPages, 0)
        if cap < count { XCTAssertGreaterThan(capHits, 0, "the cap was reached") }
        for (entry, page) in stored {
            XCTAssertTrue(try readSlotFromFile(path, offset: entry.offset) == page)
            let (bytes, source) = try cache.swapIn(entry)
            XCTAssertEqual(source, .device)
            XCTAssertTrue(bytes == page, "entry \(entry)")
        }
        XCTAssertEqual(device.slots.usedSlots, 0)
        return (stats.outstandingWritebackPagesMax, count)
    }

    func testSlowDeviceSmallCapIsAHardBound() throws {
        let (peak, _) = try runCapTest(cap: 16, pages: 600, latency: 500)
        XCTAssertGreaterThan(peak, 2, "writes overlapped")
        print("slow device, cap 16: outstanding_writeback_pages_max = \(peak)")
    }

    func testSlowDeviceDefaultCap() throws {
        let (peak, count) = try runCapTest(cap: 6400, pages: 2000, latency: 200)
        XCTAssertGreaterThan(peak, 16, "with the default cap many writes are outstanding")
        print("slow device, cap 6400, \(count) pages: outstanding_writeback_pages_max = \(peak)")
    }

    func testOddCapStillWritesBack() throws {
        // A frame needs two cap slots; a cap of 3 must still let writeback run.
        let (peak, _) = try runCapTest(cap: 3, pages: 40, latency: 100)
        XCTAssertLessThanOrEqual(peak, 3)
    }

    func testCapOfOneWritesBackOneBudAtATime() throws {
        // With a cap below two a frame's second bud stays a readable zombie;
        // the first is written back, the cap is never passed, nothing is lost.
        let cache = makeCache(pageframes: 1024, cap: 1)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 256)
        try cache.attachSwapDevice(device)
        let pages = (0..<20).map { versionedPage(id: $0, version: 1) }
        let entries = try pages.map { try cache.swapOut($0) }
        var rounds = 0
        while cache.statistics.zcache.writtenbackPages < 4 && rounds < 10_000 {
            if cache.writeback(pageframes: 1) == 0 { usleep(100) }
            rounds += 1
        }
        cache.waitForWriteback()
        let stats = cache.statistics.zcache
        XCTAssertGreaterThanOrEqual(stats.writtenbackPages, 4)
        XCTAssertEqual(stats.outstandingWritebackPagesMax, 1)
        for (entry, page) in zip(entries, pages) {
            let (bytes, _) = try cache.swapIn(entry)
            XCTAssertTrue(bytes == page, "entry \(entry)")
        }
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(cache.statistics.zcache.persZPages, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    // MARK: Injected write errors

    private func runErrorTest(
        plan: WriteFaultPlan, pages count: Int = 40,
        check: (ZCacheStatistics.ZCacheCounters, SwapDevice, FaultInjector) -> Void
    ) throws {
        let injector = FaultInjector()
        let cache = makeCache()
        let path = try scratchSwapPath(self)
        let device = try SwapDevice.create(
            path: path, pages: 256, configuration: faultyDeviceConfiguration(injector))
        try cache.attachSwapDevice(device)
        injector.update { $0 = plan }  // after the header was written
        let pages = (0..<count).map { versionedPage(id: $0, version: 3) }
        let entries = try pages.map { try cache.swapOut($0) }
        XCTAssertEqual(cache.statistics.zcache.persZPages, count)
        _ = cache.writebackEverything()
        let stats = cache.statistics.zcache
        XCTAssertEqual(stats.outstandingWritebackPages, 0)
        XCTAssertEqual(stats.persZPages, 0)
        check(stats, device, injector)
        // No page lost: each swaps in bit-identical, from the device or the
        // swap cache (where a page whose write kept failing stays, dirty).
        for (entry, page) in zip(entries, pages) {
            let (bytes, source) = try cache.swapIn(entry)
            XCTAssertNotEqual(source, .zcache)
            XCTAssertTrue(bytes == page, "entry \(entry) from \(source)")
        }
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    func testTransientEIOIsRetriedAndCounted() throws {
        try runErrorTest(plan: WriteFaultPlan(failNext: 5, errno: EIO)) { stats, device, injector in
            XCTAssertEqual(stats.writebackWriteErrors, 5)
            XCTAssertEqual(stats.writebackRetries, 5)
            XCTAssertEqual(stats.writtenbackPages, 40, "every page written in the end")
            XCTAssertEqual(device.stats.writeErrors, 5)
            XCTAssertEqual(device.swapCache.count, 0)
        }
    }

    func testENOSPCIsRetriedAndCounted() throws {
        try runErrorTest(plan: WriteFaultPlan(failNext: 3, errno: ENOSPC)) { stats, device, _ in
            XCTAssertEqual(stats.writebackWriteErrors, 3)
            XCTAssertEqual(stats.writebackRetries, 3)
            XCTAssertEqual(stats.writtenbackPages, 40)
        }
    }

    func testShortWrites() throws {
        // Partial writes are completed by the device (no error); writes that
        // make no progress are errors and are retried.
        try runErrorTest(plan: WriteFaultPlan(zeroByteWritesNext: 4, partialWritesNext: 6)) {
            stats, device, injector in
            XCTAssertEqual(injector.calls.withLock { $0.partial }, 6)
            XCTAssertEqual(stats.writebackWriteErrors, 4)
            XCTAssertEqual(stats.writebackRetries, 4)
            XCTAssertEqual(stats.writtenbackPages, 40)
        }
    }

    func testDeviceThatAlwaysFailsKeepsPagesDirtyInTheSwapCache() throws {
        let count = 12
        try runErrorTest(plan: WriteFaultPlan(errno: EIO, alwaysFail: true), pages: count) {
            stats, device, injector in
            let attempts = count * (WritebackEngine.maxWriteRetries + 1)
            XCTAssertEqual(stats.writtenbackPages, 0)
            XCTAssertEqual(stats.writebackWriteErrors, attempts)
            XCTAssertEqual(stats.writebackRetries, count * WritebackEngine.maxWriteRetries)
            XCTAssertEqual(device.swapCache.count, count, "every page kept in the swap cache")
            XCTAssertEqual(injector.calls.withLock { $0.injectedFailures }, attempts)
        }
    }

    func testAlwaysFailingPagesAreDirtyAndNotUnderWriteback() throws {
        let injector = FaultInjector()
        let cache = makeCache()
        let device = try SwapDevice.create(
            path: try scratchSwapPath(self), pages: 64,
            configuration: faultyDeviceConfiguration(injector))
        try cache.attachSwapDevice(device)
        injector.update { $0.alwaysFail = true }
        let page = versionedPage(id: 9, version: 9)
        let entry = try cache.swapOut(page)
        _ = cache.writebackEverything()
        let cached = try XCTUnwrap(device.swapCache.find(entry))
        XCTAssertTrue(cached.isDirty)
        XCTAssertTrue(cached.isUpToDate)
        XCTAssertFalse(cached.isWriteback)
        XCTAssertTrue([UInt8](cached.buffer.bytes) == page)
        cached.release()
        XCTAssertTrue(device.slots.hasCache(entry))
        // The device recovers: swap-in still prefers the swap cache copy.
        injector.update { $0.alwaysFail = false }
        let (bytes, source) = try cache.swapIn(entry)
        XCTAssertEqual(source, .swapCache)
        XCTAssertTrue(bytes == page)
        XCTAssertEqual(device.slots.usedSlots, 0)
    }
}
