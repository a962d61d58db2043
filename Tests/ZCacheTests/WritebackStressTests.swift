// Races between writeback and the swap paths, on a slow device (injected write
// latency) so that writes are in flight while other threads act on the same
// entries. CI runs this class under the thread sanitizer.
//
//   invalidate (swapFree) while the entry's write is in flight
//   a newer store of an entry while the old copy is being written back
//   swapIn while the write is in flight: found in the swap cache
//   several writers against the outstanding cap
//   everything at once, each thread checking its own entries against a model
//
// Every test runs under each allocator (AllocatorTestCase.forEachAllocator).

import Dispatch
import Foundation
import XCTest
import ZCacheSupport

@testable import ZCache

final class WritebackStressTests: AllocatorTestCase {
    private struct Setup {
        let cache: ZCache
        let device: SwapDevice
        let injector: FaultInjector
        let path: String
    }

    private func makeSetup(
        latency: UInt32, slots: Int = 1024, cap: Int = 6400, pageframes: Int = 2048,
        workers: Int = 2
    ) throws -> Setup {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = pageframes
        configuration.maxOutstandingWritebackPages = cap
        configuration.allocator = allocator
        let cache = ZCache(configuration: configuration)
        let injector = FaultInjector(WriteFaultPlan(latencyMicroseconds: latency))
        let path = try scratchSwapPath(self)
        let device = try SwapDevice.create(
            path: path, pages: slots,
            configuration: faultyDeviceConfiguration(injector, workers: workers))
        try cache.attachSwapDevice(device)
        return Setup(cache: cache, device: device, injector: injector, path: path)
    }

    private func checkQuiescent(_ setup: Setup, file: StaticString = #filePath, line: UInt = #line)
    {
        setup.cache.waitForWriteback()
        let stats = setup.cache.statistics
        XCTAssertEqual(stats.zcache.outstandingWritebackPages, 0, file: file, line: line)
        XCTAssertEqual(stats.zcache.persZPages, 0, file: file, line: line)
        XCTAssertEqual(stats.zcache.zeroFilledPages, 0, file: file, line: line)
        XCTAssertEqual(stats.zbud.persZombieCount, 0, file: file, line: line)
        XCTAssertEqual(setup.device.slots.usedSlots, 0, "slots all free", file: file, line: line)
        XCTAssertEqual(setup.device.slots.badFrees, 0, file: file, line: line)
        XCTAssertEqual(setup.device.swapCache.count, 0, file: file, line: line)
        XCTAssertTrue(setup.cache.checkFrameAccounting(), file: file, line: line)
        setup.cache.checkInvariants()
    }

    /// Runs `body(i)` for i in 0..<threads on separate threads and waits.
    private func concurrently(_ threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<threads {
            group.enter()
            Thread {
                body(index)
                group.leave()
            }.start()
        }
        group.wait()
    }

    func testInvalidateWhileWriteInFlight() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 2000)
            let cache = setup.cache
            let count = 64
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            XCTAssertGreaterThan(cache.writeback(pageframes: Int.max), 0)
            // The writes take count * 2 ms / 2 workers; free the entries now.
            let inFlightAtFree = LockedValue(0)
            concurrently(2) { thread in
                for (index, entry) in entries.enumerated() where index % 2 == thread {
                    if let page = setup.device.swapCache.find(entry) {
                        if page.isWriteback { inFlightAtFree.withLock { $0 += 1 } }
                        page.release()
                    }
                    cache.swapFree(entry)
                }
            }
            XCTAssertGreaterThan(inFlightAtFree.withLock { $0 }, 0, "some writes were in flight")
            checkQuiescent(setup)
        }
    }

    /// The same on a device whose writes all fail: a page whose entry was
    /// freed while its write was in flight is not kept (dirty) in the swap
    /// cache for a swap-in that can no longer come; its slot is freed.
    func testInvalidateWhileFailingWriteInFlight() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 1000)
            let cache = setup.cache
            setup.injector.update { $0.alwaysFail = true }
            let count = 48
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            XCTAssertGreaterThan(cache.writeback(pageframes: Int.max), 0)
            concurrently(2) { thread in
                for (index, entry) in entries.enumerated() where index % 2 == thread {
                    cache.swapFree(entry)
                }
            }
            checkQuiescent(setup)
            let stats = cache.statistics.zcache
            XCTAssertEqual(stats.writtenbackPages, 0)
            XCTAssertGreaterThan(stats.writebackWriteErrors, 0)
        }
    }

    /// Writeback and frees at the same time: writeback meets freed entries
    /// (drops the zpage) and frees meet pages being written.
    func testWritebackRacingFrees() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 300)
            let cache = setup.cache
            for round in 0..<4 {
                let entries = try (0..<80).map {
                    try cache.swapOut(versionedPage(id: $0 + round * 1000, version: round))
                }
                concurrently(2) { thread in
                    if thread == 0 {
                        while cache.writeback(pageframes: 4) > 0 {}
                    } else {
                        for entry in entries.reversed() { cache.swapFree(entry) }
                    }
                }
                checkQuiescent(setup)
            }
        }
    }

    /// A newer version stored while the old one is being written back wins:
    /// swapIn returns it, and a later writeback of it is not overtaken by the
    /// old write.
    func testNewerStoreWinsOverWritebackInFlight() throws {
        try forEachAllocator {
            // 48 writes of 5 ms on two workers: 120 ms in which the stores must
            // meet a write in flight, enough for the threads to start on a loaded
            // machine under the thread sanitizer (1.5 ms writes finished first).
            let setup = try makeSetup(latency: 5000)
            let cache = setup.cache
            let count = 48
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            XCTAssertGreaterThan(cache.writeback(pageframes: Int.max), 0)
            let storedOverWriteback = LockedValue(0)
            concurrently(2) { thread in
                for (index, entry) in entries.enumerated() where index % 2 == thread {
                    if let page = setup.device.swapCache.find(entry) {
                        if page.isWriteback { storedOverWriteback.withLock { $0 += 1 } }
                        page.release()
                    }
                    let newer = versionedPage(id: index, version: 1)
                    let result = try? newer.withUnsafeBytes {
                        try cache.frontswapStore(type: 0, offset: entry.offset, page: $0)
                    }
                    XCTAssertEqual(result, .stored)
                }
            }
            XCTAssertGreaterThan(storedOverWriteback.withLock { $0 }, 0)
            // Write the newer versions back: the old writes finished before the
            // stores went in, so the device ends with version 1 everywhere.
            _ = cache.writebackEverything()
            for (index, entry) in entries.enumerated() {
                let onDisk = try readSlotFromFile(setup.path, offset: entry.offset)
                XCTAssertTrue(
                    onDisk == versionedPage(id: index, version: 1), "slot \(entry.offset) on disk")
                let (bytes, source) = try cache.swapIn(entry)
                XCTAssertEqual(source, .device)
                XCTAssertTrue(bytes == versionedPage(id: index, version: 1), "entry \(entry)")
            }
            checkQuiescent(setup)
        }
    }

    /// Writeback and newer stores racing from the start (writeback may meet the
    /// entry's has-cache bit held by the store, or the replaced zpage).
    func testNewerStoreRacingWriteback() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 200)
            let cache = setup.cache
            let count = 120
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            concurrently(3) { thread in
                if thread == 0 {
                    while cache.writeback(pageframes: 2) > 0 {}
                } else {
                    for (index, entry) in entries.enumerated() where index % 2 == thread - 1 {
                        let newer = versionedPage(id: index, version: 1)
                        let result = try? newer.withUnsafeBytes {
                            try cache.frontswapStore(type: 0, offset: entry.offset, page: $0)
                        }
                        XCTAssertEqual(result, .stored)
                    }
                }
            }
            cache.waitForWriteback()
            for (index, entry) in entries.enumerated() {
                let (bytes, source) = try cache.swapIn(entry)
                XCTAssertTrue(
                    bytes == versionedPage(id: index, version: 1), "entry \(entry) from \(source)")
            }
            checkQuiescent(setup)
        }
    }

    func testSwapInDuringWriteFindsTheSwapCache() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 2000)
            let cache = setup.cache
            let count = 64
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            XCTAssertGreaterThan(cache.writeback(pageframes: Int.max), 0)
            let sources = LockedValue<[ZCache.SwapInSource: Int]>([:])
            concurrently(2) { thread in
                // Newest writes first: those are still queued behind the others.
                for (index, entry) in entries.enumerated().reversed() where index % 2 == thread {
                    do {
                        let (bytes, source) = try cache.swapIn(entry)
                        sources.withLock { $0[source, default: 0] += 1 }
                        XCTAssertTrue(
                            bytes == versionedPage(id: index, version: 0), "entry \(entry)")
                    } catch {
                        XCTFail("swapIn \(entry): \(error)")
                    }
                }
            }
            let seen = sources.withLock { $0 }
            XCTAssertGreaterThan(seen[.swapCache, default: 0], 0, "\(seen)")
            XCTAssertEqual(seen.values.reduce(0, +), count)
            checkQuiescent(setup)
        }
    }

    /// Entries with two owners (`swap_duplicate`): both owners swap in every
    /// entry while writeback runs; each gets the page, wherever it was.
    func testSharedEntriesSwappedInByBothOwnersDuringWriteback() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 300)
            let cache = setup.cache
            let count = 100
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 4))
            }
            for entry in entries { XCTAssertTrue(setup.device.slots.duplicate(entry)) }
            let sources = LockedValue<[ZCache.SwapInSource: Int]>([:])
            concurrently(3) { thread in
                if thread == 0 {
                    while cache.writeback(pageframes: 2) > 0 {}
                    return
                }
                let order = thread == 1 ? Array(entries.indices) : entries.indices.reversed()
                for index in order {
                    do {
                        let (bytes, source) = try cache.swapIn(entries[index])
                        sources.withLock { $0[source, default: 0] += 1 }
                        XCTAssertTrue(
                            bytes == versionedPage(id: index, version: 4),
                            "owner \(thread), entry \(entries[index]) from \(source)")
                    } catch {
                        XCTFail("owner \(thread), entry \(entries[index]): \(error)")
                    }
                }
            }
            XCTAssertEqual(sources.withLock { $0.values.reduce(0, +) }, 2 * count)
            checkQuiescent(setup)
        }
    }

    /// Several threads write back at once against a small cap on a slow device.
    func testConcurrentWritebackRespectsTheCap() throws {
        try forEachAllocator {
            let cap = 16
            // Writes slow enough (3 ms) that three writers fill the cap even
            // under the thread sanitizer, so the bound is really exercised.
            let setup = try makeSetup(latency: 3_000, cap: cap)
            let cache = setup.cache
            let count = 300
            let entries = try (0..<count).map {
                try cache.swapOut(versionedPage(id: $0, version: 0))
            }
            let observedMax = LockedValue(0)
            concurrently(3) { _ in
                var idle = 0
                while cache.statistics.zcache.persPageframes > 0 && idle < 20_000 {
                    if cache.writeback(pageframes: 3) == 0 {
                        idle += 1
                        usleep(100)
                    }
                    let now = cache.statistics.zcache.outstandingWritebackPages
                    observedMax.withLock { $0 = max($0, now) }
                }
            }
            cache.waitForWriteback()
            let stats = cache.statistics.zcache
            XCTAssertLessThanOrEqual(observedMax.withLock { $0 }, cap)
            XCTAssertLessThanOrEqual(stats.outstandingWritebackPagesMax, cap)
            // The cap was met: a writeback was refused at it, or waited for
            // room and filled it exactly.
            XCTAssertTrue(
                stats.writebackCapReached > 0 || stats.outstandingWritebackPagesMax == cap,
                "cap reached \(stats.writebackCapReached), peak \(stats.outstandingWritebackPagesMax)")
            XCTAssertEqual(stats.writtenbackPages, count)
            for (index, entry) in entries.enumerated() {
                let (bytes, source) = try cache.swapIn(entry)
                XCTAssertEqual(source, .device)
                XCTAssertTrue(bytes == versionedPage(id: index, version: 0))
            }
            checkQuiescent(setup)
        }
    }

    /// Everything at once: workers swap out, store newer versions, swap in and
    /// free their own entries (checking every byte against their model), while
    /// one thread writes back, one runs the shrinker, and writes sometimes fail.
    func testMixedSwapTrafficWithWriteback() throws {
        try forEachAllocator {
            let setup = try makeSetup(latency: 100, slots: 2048, cap: 32, pageframes: 256)
            let cache = setup.cache
            setup.injector.update { $0.failNext = 20 }
            let stop = LockedValue(false)
            let lost = LockedValue(0)
            let verified = LockedValue(0)
            let finishedWorkers = LockedValue(0)
            concurrently(5) { thread in
                switch thread {
                case 0:
                    while !stop.withLock({ $0 }) {
                        if cache.writeback(pageframes: 2) == 0 { usleep(200) }
                    }
                case 1:
                    while !stop.withLock({ $0 }) {
                        cache.shrinkerScan(
                            counts: HostLRUCounts(
                                activeFile: 0, inactiveFile: 0, activeAnon: 40, inactiveAnon: 0))
                        setup.injector.update { $0.failNext = max($0.failNext, 1) }
                        usleep(500)
                    }
                default:
                    var rng = SeededGenerator(seed: UInt64(thread))
                    var live: [(entry: SwapEntry, id: Int, version: Int)] = []
                    var nextID = thread * 100_000
                    for _ in 0..<1200 {
                        let roll = Int.random(in: 0..<10, using: &rng)
                        do {
                            if live.count < 20 || roll < 3 {
                                let id = nextID
                                nextID += 1
                                let entry = try cache.swapOut(versionedPage(id: id, version: 0))
                                live.append((entry, id, 0))
                            } else if roll < 5 {
                                let pick = Int.random(in: 0..<live.count, using: &rng)
                                var item = live[pick]
                                item.version += 1
                                let page = versionedPage(id: item.id, version: item.version)
                                let result = try page.withUnsafeBytes {
                                    try cache.frontswapStore(
                                        type: 0, offset: item.entry.offset, page: $0)
                                }
                                if result.isStored {
                                    live[pick] = item
                                } else {
                                    // Refused: the entry's old copy is gone; the host
                                    // would write this page to the device. Drop it.
                                    cache.swapFree(item.entry)
                                    live.remove(at: pick)
                                }
                            } else if roll < 8 {
                                let pick = Int.random(in: 0..<live.count, using: &rng)
                                let item = live.remove(at: pick)
                                let (bytes, _) = try cache.swapIn(item.entry)
                                if bytes == versionedPage(id: item.id, version: item.version) {
                                    verified.withLock { $0 += 1 }
                                } else {
                                    lost.withLock { $0 += 1 }
                                    XCTFail("entry \(item.entry) v\(item.version) came back wrong")
                                }
                            } else {
                                let pick = Int.random(in: 0..<live.count, using: &rng)
                                cache.swapFree(live.remove(at: pick).entry)
                            }
                        } catch {
                            XCTFail("thread \(thread): \(error)")
                        }
                    }
                    cache.waitForWriteback()
                    for item in live {
                        do {
                            let (bytes, _) = try cache.swapIn(item.entry)
                            if bytes == versionedPage(id: item.id, version: item.version) {
                                verified.withLock { $0 += 1 }
                            } else {
                                lost.withLock { $0 += 1 }
                                XCTFail("entry \(item.entry) v\(item.version) came back wrong")
                            }
                        } catch {
                            XCTFail("thread \(thread): \(error)")
                        }
                    }
                    if finishedWorkers.withLock({
                        $0 += 1; return $0
                    }) == 3 {
                        stop.withLock { $0 = true }
                    }
                }
            }
            XCTAssertEqual(lost.withLock { $0 }, 0)
            XCTAssertGreaterThan(verified.withLock { $0 }, 100)
            let stats = cache.statistics.zcache
            XCTAssertGreaterThan(stats.writtenbackPages, 0)
            print(
                "mixed: verified \(verified.withLock { $0 }), written back \(stats.writtenbackPages),"
                    + " write errors \(stats.writebackWriteErrors), retries \(stats.writebackRetries),"
                    + " swap cache existed \(stats.writebackSwapCacheExisted),"
                    + " dropped stale \(stats.writebackDroppedStale), cap reached \(stats.writebackCapReached)"
            )
            checkQuiescent(setup)
        }
    }
}
