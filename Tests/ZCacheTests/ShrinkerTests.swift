// The shrinker against a model of the design's formulas, with hand-built LRU
// counts, for every policy; the recorded last_* counts; the returned count
// (not the seed's sign bug); one scan at a time.

import Dispatch
import Foundation
import XCTest

@testable import ZCache

final class ShrinkerTests: XCTestCase {
    /// What the design says a scan does, given zcache's frames and the counts.
    struct Expected: Equatable {
        var evictTarget = 0
        var writebackTarget = 0
        var evicted = 0
        /// Persistent frames written back (the result counts their pages).
        var writtenBackFrames = 0
        /// Frames given a second chance (zswap policy).
        var rotated = 0
        var remaining = 0
        /// The seed's return value, `eph - active_file + inactive_file` (sign bug).
        var seedReturn = 0

        init(
            eph: Int, pers: Int, persZPages: Int, counts c: HostLRUCounts, policy: ShrinkerPolicy
        ) {
            let fileLRU = c.activeFile + c.inactiveFile
            let anonLRU = c.activeAnon + c.inactiveAnon
            evictTarget = max(0, eph - fileLRU)
            writebackTarget = max(0, pers - anonLRU)
            switch policy {
            case .seed:
                evicted = min(evictTarget, eph)
                writtenBackFrames = min(writebackTarget, pers)
            case .writebackIfEvictionShort:
                let wanted = evictTarget + writebackTarget
                evicted = min(wanted, eph)
                writtenBackFrames = min(pers, min(writebackTarget, wanted - evicted))
            case .zswap:
                // No swap-ins reported; scaled by frames per page, rounded up.
                evicted = min(evictTarget, eph)
                writebackTarget =
                    writebackTarget > 0 && persZPages > 0
                    ? (writebackTarget * pers + persZPages - 1) / persZPages : 0
                // Every frame was just filled, so referenced: the walk first
                // rotates each once, and only then writes back.
                rotated = min(writebackTarget, pers)
                writtenBackFrames = min(pers, writebackTarget - rotated)
            }
            remaining = max(0, (eph - evicted) - fileLRU)
            seedReturn = (eph - evicted) - c.activeFile + c.inactiveFile
        }
    }

    /// A cache holding `ephPages` cleancache pages and `persPages` swapped-out
    /// pages, with a swap device; returns it with its frame counts.
    private func loadedCache(
        policy: ShrinkerPolicy, ephPages: Int = 80, persPages: Int = 40, host: TestHost? = nil
    ) throws -> (cache: ZCache, device: SwapDevice, entries: [(SwapEntry, [UInt8])]) {
        var configuration = ZCacheConfiguration()
        configuration.allocator = .zbud  // the formulas count zbud's frames
        configuration.pageframes = 4096
        configuration.shrinkerPolicy = policy
        let cache = ZCache(configuration: configuration, host: host)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 1024)
        try cache.attachSwapDevice(device)
        let fs = try cache.cleancacheInitFilesystem()
        for index in 0..<ephPages {
            let page = versionedPage(id: 50_000 + index, version: 1)
            XCTAssertTrue(
                try page.withUnsafeBytes {
                    try cache.cleancachePut(fs, file: ObjectID(7), index: UInt32(index), page: $0)
                })
        }
        var entries: [(SwapEntry, [UInt8])] = []
        for id in 0..<persPages {
            let page = versionedPage(id: id, version: 1)
            entries.append((try cache.swapOut(page), page))
        }
        return (cache, device, entries)
    }

    private func checkScan(
        policy: ShrinkerPolicy, counts: HostLRUCounts, ephPages: Int = 80, persPages: Int = 40,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Expected {
        let (cache, device, entries) = try loadedCache(
            policy: policy, ephPages: ephPages, persPages: persPages)
        let before = cache.statistics.zcache
        let eph = before.ephPageframes
        let pers = before.persPageframes
        let expected = Expected(
            eph: eph, pers: pers, persZPages: before.persZPages, counts: counts, policy: policy)

        let result = cache.shrinkerScan(counts: counts)
        cache.waitForWriteback()
        XCTAssertFalse(result.skippedBusy, file: file, line: line)
        XCTAssertEqual(
            result.evictTarget, expected.evictTarget, "evict target", file: file, line: line)
        XCTAssertEqual(
            result.writebackTarget, expected.writebackTarget, "writeback target", file: file,
            line: line)
        XCTAssertEqual(result.evicted, expected.evicted, "evicted", file: file, line: line)
        XCTAssertEqual(
            result.secondChances, expected.rotated, "second chances", file: file, line: line)
        XCTAssertEqual(result.remaining, expected.remaining, "remaining", file: file, line: line)

        let after = cache.statistics.zcache
        XCTAssertEqual(after.shrinkerScans, 1, file: file, line: line)
        XCTAssertEqual(after.lastActiveFilePageframes, counts.activeFile, file: file, line: line)
        XCTAssertEqual(
            after.lastInactiveFilePageframes, counts.inactiveFile, file: file, line: line)
        XCTAssertEqual(after.lastActiveAnonPageframes, counts.activeAnon, file: file, line: line)
        XCTAssertEqual(
            after.lastInactiveAnonPageframes, counts.inactiveAnon, file: file, line: line)
        XCTAssertEqual(after.ephPageframes, eph - expected.evicted, file: file, line: line)
        XCTAssertEqual(after.evictedEphPageframes, expected.evicted, file: file, line: line)
        XCTAssertEqual(
            after.persPageframes, pers - expected.writtenBackFrames, file: file, line: line)
        XCTAssertEqual(
            after.writtenbackPages, before.persZPages - after.persZPages,
            "every page of a written-back frame reached the device", file: file, line: line)
        XCTAssertEqual(
            result.writtenBack, before.persZPages - after.persZPages,
            "the result counts pages submitted", file: file, line: line)
        XCTAssertEqual(after.shrinkerSecondChances, expected.rotated, file: file, line: line)
        XCTAssertEqual(after.outstandingWritebackPages, 0, file: file, line: line)
        XCTAssertTrue(cache.checkFrameAccounting(), file: file, line: line)
        // Nothing lost: every swapped-out page comes back.
        for (entry, page) in entries {
            let (bytes, _) = try cache.swapIn(entry)
            XCTAssertTrue(bytes == page, "entry \(entry)", file: file, line: line)
        }
        XCTAssertEqual(device.slots.usedSlots, 0, file: file, line: line)
        return expected
    }

    private static let cases: [HostLRUCounts] = [
        // Some of each in excess.
        HostLRUCounts(activeFile: 10, inactiveFile: 20, activeAnon: 3, inactiveAnon: 4),
        // The LRUs cover zcache: nothing to do.
        HostLRUCounts(activeFile: 100, inactiveFile: 0, activeAnon: 100, inactiveAnon: 100),
        // Empty LRUs: evict and write back everything.
        HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0),
        // Only inactive file pages; a small eph excess and a big pers excess.
        HostLRUCounts(activeFile: 0, inactiveFile: 35, activeAnon: 1, inactiveAnon: 0),
        // Ephemeral excess only.
        HostLRUCounts(activeFile: 5, inactiveFile: 5, activeAnon: 50, inactiveAnon: 50),
    ]

    func testSeedPolicyFormulas() throws {
        for counts in Self.cases {
            _ = try checkScan(policy: .seed, counts: counts)
        }
    }

    func testZswapPolicyFormulas() throws {
        for counts in Self.cases {
            _ = try checkScan(policy: .zswap, counts: counts)
        }
    }

    func testWritebackIfEvictionShortPolicyFormulas() throws {
        for counts in Self.cases {
            _ = try checkScan(policy: .writebackIfEvictionShort, counts: counts)
        }
        // No ephemeral frames at all: eviction frees nothing, so writeback does
        // the whole persistent excess.
        let counts = HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 2, inactiveAnon: 2)
        let expected = try checkScan(
            policy: .writebackIfEvictionShort, counts: counts, ephPages: 0)
        XCTAssertGreaterThan(expected.writtenBackFrames, 0)
        XCTAssertEqual(expected.writtenBackFrames, expected.writebackTarget)
    }

    /// The two policies differ: with enough ephemeral frames, the FIXME policy
    /// evicts more and writes back less.
    func testPoliciesDifferWhereTheFixmeSaysSo() throws {
        let counts = HostLRUCounts(activeFile: 10, inactiveFile: 0, activeAnon: 10, inactiveAnon: 0)
        let seed = try checkScan(policy: .seed, counts: counts, ephPages: 120, persPages: 30)
        let short = try checkScan(
            policy: .writebackIfEvictionShort, counts: counts, ephPages: 120, persPages: 30)
        XCTAssertEqual(seed.evictTarget, short.evictTarget)
        XCTAssertGreaterThan(short.evicted, seed.evicted)
        XCTAssertLessThan(short.writtenBackFrames, seed.writtenBackFrames)
    }

    /// The seed returned `eph - active_file + inactive_file`; the count returned
    /// here is `max(0, eph - (active_file + inactive_file))`.
    func testRemainingIsNotTheSeedsSignBug() throws {
        // With inactive file pages the seed's formula adds where it should subtract.
        let counts = HostLRUCounts(
            activeFile: 4, inactiveFile: 30, activeAnon: 1000, inactiveAnon: 0)
        let (cache, _, _) = try loadedCache(policy: .seed)
        let eph = cache.statistics.zcache.ephPageframes
        let result = cache.shrinkerScan(counts: counts)
        let ephAfter = cache.statistics.zcache.ephPageframes
        XCTAssertEqual(ephAfter, eph - result.evicted)
        XCTAssertEqual(
            result.remaining, max(0, ephAfter - (counts.activeFile + counts.inactiveFile)))
        let seedReturn = ephAfter - counts.activeFile + counts.inactiveFile
        XCTAssertNotEqual(
            result.remaining, seedReturn, "the seed's formula would say \(seedReturn)")

        // And when the file LRU covers zcache the seed's value goes negative.
        let covering = HostLRUCounts(
            activeFile: 1000, inactiveFile: 0, activeAnon: 1000, inactiveAnon: 0)
        let second = cache.shrinkerScan(counts: covering)
        XCTAssertEqual(second.remaining, 0)
        XCTAssertEqual(second.evicted, 0)
        XCTAssertLessThan(cache.statistics.zcache.ephPageframes - 1000, 0)
    }

    func testScanWithoutHostUsesZeroCountsAndWithHostItsCounts() throws {
        let host = TestHost(
            counts: HostLRUCounts(activeFile: 7, inactiveFile: 8, activeAnon: 9, inactiveAnon: 10))
        let (cache, _, _) = try loadedCache(policy: .seed, host: host)
        let eph = cache.statistics.zcache.ephPageframes
        let result = cache.shrinkerScan()
        XCTAssertEqual(result.evictTarget, max(0, eph - 15))
        let stats = cache.statistics.zcache
        XCTAssertEqual(
            [
                stats.lastActiveFilePageframes, stats.lastInactiveFilePageframes,
                stats.lastActiveAnonPageframes, stats.lastInactiveAnonPageframes,
            ], [7, 8, 9, 10])
    }

    /// One scan at a time: a scan held inside writeback (the host's forced
    /// allocation blocks) makes a second scan return `skippedBusy` at once.
    func testConcurrentSecondScanIsSkipped() throws {
        let host = TestHost(forcedBudget: 4)
        var configuration = ZCacheConfiguration()
        configuration.allocator = .zbud
        configuration.pageframes = 16
        let cache = ZCache(configuration: configuration, host: host)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 256)
        try cache.attachSwapDevice(device)
        var entries: [(SwapEntry, [UInt8])] = []
        for id in 0..<60 {
            let page = versionedPage(id: id, version: 2)
            entries.append((try cache.swapOut(page), page))
        }
        XCTAssertEqual(cache.statistics.zcache.persPageframes, 16, "the pool is full")

        let gate = DispatchSemaphore(value: 0)
        host.gate.withLock { $0 = gate }
        let first = LockedValue<ShrinkResult?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let zero = HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 14, inactiveAnon: 0)
        Thread {
            let result = cache.shrinkerScan(counts: zero)
            first.withLock { $0 = result }
            finished.signal()
        }.start()
        XCTAssertEqual(
            host.entered.wait(timeout: .now() + 10), .success, "first scan is in writeback")

        let other = HostLRUCounts(activeFile: 1, inactiveFile: 1, activeAnon: 1, inactiveAnon: 1)
        let second = cache.shrinkerScan(counts: other)
        XCTAssertTrue(second.skippedBusy)
        XCTAssertEqual(second.evicted, 0)
        XCTAssertEqual(second.writtenBack, 0)
        XCTAssertEqual(cache.statistics.zcache.shrinkerScans, 1, "the skipped scan is not counted")
        XCTAssertEqual(cache.statistics.zcache.lastActiveAnonPageframes, 14, "nor recorded")

        host.gate.withLock { $0 = nil }
        gate.signal()
        XCTAssertEqual(finished.wait(timeout: .now() + 20), .success)
        let result = try XCTUnwrap(first.withLock { $0 })
        XCTAssertFalse(result.skippedBusy)
        XCTAssertEqual(result.writebackTarget, 2)
        XCTAssertEqual(result.writtenBack, 2, "host pages let two frames (a page each) go")
        cache.waitForWriteback()
        XCTAssertEqual(host.state.withLock { $0.forcedInUse }, 0)

        // The flag was released: the next scan runs.
        XCTAssertFalse(cache.shrinkerScan(counts: other).skippedBusy)
        cache.waitForWriteback()
        for (entry, page) in entries {
            let (bytes, _) = try cache.swapIn(entry)
            XCTAssertTrue(bytes == page)
        }
    }
}
