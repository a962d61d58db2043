// The swap cache: membership, references, flags, and writeback with reclaim.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapCacheTests: XCTestCase {
    func testAddFindDelete() throws {
        let cache = SwapCache()
        let entry = try XCTUnwrap(SwapEntry(type: 0, offset: 9))
        let page = SwapCachePage(entry: entry)
        XCTAssertEqual(page.references, 1, "the creator's")
        XCTAssertTrue(cache.add(page))
        XCTAssertFalse(cache.add(page))
        XCTAssertFalse(cache.add(SwapCachePage(entry: entry)), "a page for the entry is present")
        XCTAssertEqual(cache.count, 1)

        let found = try XCTUnwrap(cache.find(entry))
        XCTAssertTrue(found === page)
        XCTAssertEqual(page.references, 2)
        cache.release(found)
        XCTAssertEqual(page.references, 1)
        XCTAssertNil(cache.find(try XCTUnwrap(SwapEntry(type: 0, offset: 10))))

        XCTAssertFalse(cache.delete(SwapCachePage(entry: entry)), "not the cached page")
        XCTAssertTrue(cache.delete(page))
        XCTAssertFalse(cache.delete(page))
        XCTAssertEqual(cache.count, 0)
        XCTAssertNil(cache.find(entry))
    }

    /// A page belongs to one swap cache for its life: another cache refuses
    /// it, even after it left the first; the first takes it back.
    func testAPageBelongsToOneCache() throws {
        let first = SwapCache()
        let second = SwapCache()
        let entry = try XCTUnwrap(SwapEntry(type: 0, offset: 3))
        let page = SwapCachePage(entry: entry)
        XCTAssertTrue(first.add(page))
        XCTAssertFalse(second.add(page), "the page is in another cache")
        XCTAssertTrue(first.delete(page))
        XCTAssertFalse(second.add(page), "the page belonged to another cache")
        XCTAssertEqual(second.count, 0)
        XCTAssertTrue(first.add(page), "its own cache takes it back")
        XCTAssertTrue(first.delete(page))
    }

    /// The last release drops a reclaimable page from the cache it was added
    /// to (found through the page's link), and does nothing once the page has
    /// left that cache or the cache is gone.
    func testLastReleaseDropsAReclaimablePageFromItsCache() throws {
        let cache = SwapCache()
        let entry = try XCTUnwrap(SwapEntry(type: 0, offset: 4))
        let page = SwapCachePage(entry: entry, flags: [.upToDate, .reclaim])
        XCTAssertTrue(cache.add(page))
        page.retain()
        page.release()
        XCTAssertEqual(cache.count, 1, "a reference is still held")
        page.release()
        XCTAssertEqual(cache.count, 0, "the last release dropped it")
        XCTAssertEqual(cache.reclaimedPages, 1)

        let left = SwapCachePage(entry: entry, flags: [.upToDate, .reclaim])
        XCTAssertTrue(cache.add(left))
        XCTAssertTrue(cache.delete(left))
        let other = SwapCachePage(entry: entry)
        XCTAssertTrue(cache.add(other))
        left.release()
        XCTAssertTrue(cache.find(entry) === other, "a page that left drops nothing")
        other.release()
        other.release()

        var gone: SwapCache? = SwapCache()
        let orphan = SwapCachePage(entry: entry, flags: [.upToDate, .reclaim])
        XCTAssertTrue(try XCTUnwrap(gone).add(orphan))
        weak let weakCache = gone
        gone = nil
        XCTAssertNil(weakCache, "pages in a cache do not keep it alive")
        orphan.release()
    }

    /// Random adds, finds, deletes and reclaim drops over entries that land in
    /// every shard, against a dictionary: each step's result and page agree
    /// with it, and `count` and `reclaimedPages` do every 97 steps and at the end.
    func testShardedTableAgreesWithAModel() throws {
        let cache = SwapCache()
        var model: [UInt64: SwapCachePage] = [:]
        var reclaimed = 0
        var generator = SystemRandomNumberGenerator()
        let offsets = UInt64(1)...UInt64(600)
        for step in 0..<30_000 {
            let offset = UInt64.random(in: offsets, using: &generator)
            let entry = try XCTUnwrap(SwapEntry(type: 1, offset: offset))
            switch Int.random(in: 0..<5, using: &generator) {
            case 0, 1:
                let page = SwapCachePage(entry: entry)
                XCTAssertEqual(cache.add(page), model[offset] == nil, "step \(step)")
                if model[offset] == nil { model[offset] = page } else { page.release() }
            case 2:
                let found = cache.find(entry)
                XCTAssertTrue(found === model[offset], "step \(step)")
                found?.release()
                XCTAssertEqual(cache.hasPage(for: entry), model[offset] != nil, "step \(step)")
            case 3:
                guard let page = model[offset] else { continue }
                XCTAssertTrue(cache.contains(page))
                XCTAssertTrue(cache.delete(page), "step \(step)")
                XCTAssertFalse(cache.contains(page))
                model[offset] = nil
                page.release()
            default:
                // The last reference of a reclaimable page drops it.
                guard let page = model[offset] else { continue }
                page.setFlags([.upToDate, .reclaim])
                page.release()
                model[offset] = nil
                reclaimed += 1
            }
            if step % 97 == 0 {
                XCTAssertEqual(cache.count, model.count, "step \(step)")
                XCTAssertEqual(cache.reclaimedPages, reclaimed, "step \(step)")
            }
        }
        XCTAssertEqual(cache.count, model.count)
        XCTAssertEqual(cache.reclaimedPages, reclaimed)
        for (offset, page) in model {
            XCTAssertTrue(cache.find(try XCTUnwrap(SwapEntry(type: 1, offset: offset))) === page)
            page.release()
            XCTAssertTrue(cache.delete(page))
            page.release()
        }
        XCTAssertEqual(cache.count, 0)
    }

    func testFlags() throws {
        let page = SwapCachePage(entry: try XCTUnwrap(SwapEntry(type: 1, offset: 1)))
        XCTAssertEqual(page.flags, [])
        XCTAssertTrue(page.tryLock())
        XCTAssertFalse(page.tryLock(), "trylock_page on a locked page")
        page.isUpToDate = true
        page.isDirty = true
        XCTAssertEqual(page.flags, [.locked, .upToDate, .dirty])
        page.unlock()
        page.isDirty = false
        XCTAssertEqual(page.flags, [.upToDate])
        XCTAssertEqual(page.setFlags([.writeback, .reclaim]), [.upToDate])
        XCTAssertTrue(page.isWriteback && page.isReclaim && !page.isLocked)
        XCTAssertEqual(page.clearFlags(.writeback), [.upToDate, .writeback, .reclaim])
    }

    /// An entry set up as writeback sets it up: slot allocated (has-cache), one
    /// page-table reference, a cached up-to-date page holding `contents`.
    private func prepareWriteback(_ device: SwapDevice, version: UInt64 = 0) throws -> SwapCachePage
    {
        let entry = try XCTUnwrap(device.slots.allocate())
        XCTAssertTrue(device.slots.duplicate(entry))
        let page = SwapCachePage(
            entry: entry, buffer: makePage(slot: entry.offset, version: version))
        XCTAssertTrue(device.swapCache.add(page))
        page.isUpToDate = true
        return page
    }

    func testWritebackDropsThePageWhenNobodyHoldsIt() throws {
        let gate = DispatchSemaphore(value: 0)
        let device = try makeDevice(
            self, pages: 32, configuration: configuration(syscalls: gatedSyscalls(gate)))
        let page = try prepareWriteback(device)
        let done = expectation(description: "writeback")
        device.submitWriteback(page) { result in
            XCTAssertTrue(result.succeeded)
            done.fulfill()
        }
        XCTAssertTrue(page.isWriteback && page.isReclaim)
        XCTAssertEqual(page.references, 2, "the caller's and the I/O's")
        page.release()
        XCTAssertEqual(device.swapCache.count, 1, "stays cached while its write is in flight")
        gate.signal()
        wait(for: [done], timeout: 10)
        drainOrFail(device)
        XCTAssertEqual(device.swapCache.count, 0)
        XCTAssertEqual(device.swapCache.reclaimedPages, 1)
        XCTAssertFalse(device.slots.hasCache(page.entry), "swapcache_free ran")
        XCTAssertEqual(
            device.slots.useCount(page.entry), 1, "the page table still refers to the slot")
        XCTAssertEqual(page.references, 0)
        XCTAssertFalse(page.isWriteback)
        XCTAssertEqual(
            try readFile(device.path, offset: Int(page.entry.offset) * 4096, count: 4096),
            pageContents(slot: page.entry.offset))
        // Swap-in now misses the cache and reads the slot.
        XCTAssertNil(device.swapCache.find(page.entry))
        XCTAssertEqual(
            readSlots(device, [page.entry.offset])[Int(page.entry.offset)],
            pageContents(slot: page.entry.offset))
        // Last reference gone: the slot is free again.
        device.slots.free(page.entry)
        XCTAssertEqual(device.slots.usedSlots, 0)
    }

    /// pwrite waits until the test opens the gate, so a test can act while a write
    /// is in flight.
    private func gatedSyscalls(_ gate: DispatchSemaphore) -> SwapSyscalls {
        let realWrite = SwapSyscalls.system.pwrite
        return syscalls(pwrite: { fd, buffer, offset in
            gate.wait()
            gate.signal()
            return realWrite(fd, buffer, offset)
        })
    }

    func testAPageFoundDuringWritebackStaysUntilReleased() throws {
        let gate = DispatchSemaphore(value: 0)
        let device = try makeDevice(
            self, pages: 32, configuration: configuration(syscalls: gatedSyscalls(gate)))
        let page = try prepareWriteback(device)
        let done = expectation(description: "writeback")
        device.submitWriteback(page) { _ in done.fulfill() }
        page.release()

        // Swap-in finds the page while its write is in flight.
        let found = try XCTUnwrap(device.swapCache.find(page.entry))
        XCTAssertTrue(found.isWriteback)
        XCTAssertEqual(contents(of: found.buffer), pageContents(slot: page.entry.offset))
        gate.signal()
        wait(for: [done], timeout: 10)
        drainOrFail(device)
        XCTAssertEqual(device.swapCache.count, 1, "someone holds it: it stays")
        XCTAssertTrue(device.slots.hasCache(page.entry))
        XCTAssertFalse(found.isWriteback)
        XCTAssertTrue(found.isReclaim)
        found.release()
        XCTAssertEqual(device.swapCache.count, 0, "the last release dropped it")
        XCTAssertFalse(device.slots.hasCache(page.entry))
    }

    func testFailedWritebackKeepsThePageDirtyInTheCache() throws {
        let device = try makeDevice(
            self, pages: 32,
            configuration: configuration(syscalls: syscalls(pwrite: { _, _, _ in -Int(EIO) })))
        let page = try prepareWriteback(device, version: 4)
        let done = expectation(description: "writeback")
        let reported = LockedValue<SwapIOError?>(nil)
        device.submitWriteback(page) { result in
            reported.withLock { $0 = result.error }
            done.fulfill()
        }
        page.release()
        wait(for: [done], timeout: 10)
        drainOrFail(device)
        XCTAssertEqual(reported.withLock { $0 }, .io(errno: EIO))
        XCTAssertEqual(device.swapCache.count, 1)
        XCTAssertTrue(device.slots.hasCache(page.entry))
        let kept = try XCTUnwrap(device.swapCache.find(page.entry))
        XCTAssertEqual(kept.flags, [.upToDate, .dirty], "dirty, not writeback, not reclaim")
        XCTAssertEqual(contents(of: kept.buffer), pageContents(slot: page.entry.offset, version: 4))
        kept.release()
        XCTAssertEqual(device.swapCache.count, 1, "a dirty page is not reclaimed")
        XCTAssertEqual(device.stats.writeErrors, 1)
    }

    func testWritebackWithoutReclaimKeepsThePage() throws {
        let device = try makeDevice(self, pages: 32)
        let page = try prepareWriteback(device)
        let done = expectation(description: "writeback")
        device.submitWriteback(page, reclaim: false) { _ in done.fulfill() }
        page.release()
        wait(for: [done], timeout: 10)
        drainOrFail(device)
        XCTAssertEqual(device.swapCache.count, 1)
        let kept = try XCTUnwrap(device.swapCache.find(page.entry))
        XCTAssertEqual(kept.flags, [.upToDate])
        kept.release()
        XCTAssertEqual(device.swapCache.count, 1)
    }

    func testFreedSlotWithReclaimedPageReturnsToTheFreePool() throws {
        let device = try makeDevice(self, pages: 4)
        // The page table let go while the page was under writeback.
        let page = try prepareWriteback(device)
        let done = expectation(description: "writeback")
        device.submitWriteback(page) { _ in done.fulfill() }
        device.slots.free(page.entry)
        XCTAssertEqual(device.slots.usedSlots, 1, "has-cache still holds the slot")
        page.release()
        wait(for: [done], timeout: 10)
        drainOrFail(device)
        XCTAssertEqual(device.slots.usedSlots, 0)
        XCTAssertEqual(device.slots.freeSlots, 3)
    }
}
