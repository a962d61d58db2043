// The pool limit's hysteresis against a model of zswap's `zswap_check_limits`,
// and the zswap shrinker policy's second chance and swap-in feedback against
// the rules of mm/zswap.c (`shrink_memcg_cb`, `zswap_shrinker_count`).

import Foundation
import XCTest

@testable import ZCache

final class PoolLimitTests: XCTestCase {
    /// zswap_check_limits, as a model: refuse at or above the limit (counted),
    /// and after that until the pool is at or below the threshold.
    struct LimitModel {
        let limit: Int
        let threshold: Int
        var reachedFull = false
        var hits = 0

        mutating func refuses(inUse: Int) -> Bool {
            if inUse >= limit {
                hits += 1
                reachedFull = true
                return true
            }
            if reachedFull, inUse <= threshold { reachedFull = false }
            return reachedFull
        }
    }

    /// A page that compresses to a little over 2 KiB: one per zbud frame, so
    /// frames in use move one by one.
    static func halfRandomPage(_ id: Int) -> [UInt8] {
        TestPages.randomBytes(count: 2200, seed: UInt64(id + 1))
            + [UInt8](repeating: 0, count: pageSize - 2200)
    }

    func testHysteresisFollowsZswapCheckLimits() throws {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 64
        configuration.maxPoolPercent = 50  // of the pool: no host RAM given
        configuration.acceptThresholdPercent = 75
        let cache = ZCache(configuration: configuration)
        try cache.frontswapInit(type: 0)
        XCTAssertEqual(cache.poolLimitPageframes, 32)
        var model = LimitModel(limit: 32, threshold: 24)
        var rng = SystemRandomNumberGenerator()
        var live: [UInt64: [UInt8]] = [:]
        var next: UInt64 = 0
        var refusals = 0
        var acceptedAfterDraining = 0
        for step in 0..<3000 {
            // More stores than loads, so the pool keeps reaching the limit,
            // and loads that bring it down through the threshold.
            if live.isEmpty || Int.random(in: 0..<10, using: &rng) < 6 {
                let page = Self.halfRandomPage(Int(next))
                let inUse = cache.pageframesInUse
                let expected = model.refuses(inUse: inUse)
                let result = try page.withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: next, page: $0)
                }
                XCTAssertEqual(
                    result == .rejected(.poolLimit), expected,
                    "step \(step): \(inUse) frames in use, model says refuse: \(expected)")
                if result.isStored {
                    live[next] = page
                    if inUse < model.limit && inUse > model.threshold { acceptedAfterDraining += 1 }
                } else {
                    refusals += 1
                }
                next += 1
            } else {
                let offset = live.keys.randomElement(using: &rng)!
                var out = [UInt8](repeating: 0, count: pageSize)
                let found = try out.withUnsafeMutableBytes {
                    try cache.frontswapLoad(type: 0, offset: offset, into: $0)
                }
                XCTAssertTrue(found)
                XCTAssertEqual(out, live.removeValue(forKey: offset))
                // zsmalloc frees a frame only when its whole zspage (up to 16
                // frames) empties: compact now and then, as the kernel's
                // zsmalloc shrinker does under pressure, so the pool drains
                // through the threshold.
                if step % 4 == 0 { _ = cache.compact() }
            }
            XCTAssertEqual(cache.isPoolLimitReached, model.reachedFull, "step \(step)")
            XCTAssertLessThanOrEqual(cache.pageframesInUse, 32, "never above the limit")
        }
        XCTAssertEqual(cache.statistics.zcache.poolLimitHit, model.hits)
        XCTAssertGreaterThan(model.hits, 0)
        XCTAssertGreaterThan(refusals, model.hits, "refusals between the limit and the threshold")
        XCTAssertGreaterThan(
            acceptedAfterDraining, 0, "accepts above the threshold before the limit")
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    func testNoLimitAtOneHundredPercent() throws {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 16
        let cache = ZCache(configuration: configuration)
        try cache.frontswapInit(type: 0)
        for offset in 0..<40 {
            let result = try Self.halfRandomPage(offset).withUnsafeBytes {
                try cache.frontswapStore(type: 0, offset: UInt64(offset), page: $0)
            }
            XCTAssertNotEqual(result, .rejected(.poolLimit))
        }
        XCTAssertEqual(cache.statistics.zcache.poolLimitHit, 0)
        XCTAssertEqual(cache.pageframesInUse, 16, "the pool itself is the bound")
    }

    /// The limit is a percentage of the host's RAM when the host says it.
    func testLimitIsAPercentOfHostRAM() {
        final class SizedHost: HostMemory {
            func lruCounts() -> HostLRUCounts {
                HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0)
            }
            func allocateForcedPage() -> Bool { false }
            func freeForcedPage() {}
            var ramPages: Int? { 1000 }
        }
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 500
        configuration.maxPoolPercent = 20
        XCTAssertEqual(
            ZCache(configuration: configuration, host: SizedHost()).poolLimitPageframes, 200)
        XCTAssertEqual(ZCache(configuration: configuration).poolLimitPageframes, 100)
    }
}

final class ZswapPolicyTests: XCTestCase {
    /// A page of one repeated 16-byte stamp (two different words, so not a
    /// same-filled page, which would take no frame): it compresses to a few
    /// dozen bytes, so two share a zbud frame.
    static func compressiblePage(_ id: Int) -> [UInt8] {
        var page = [UInt8](repeating: 0, count: pageSize)
        let stamp = UInt64(id + 1) &* 0x9E37_79B9
        for offset in stride(from: 0, to: pageSize, by: 8) {
            let word = offset % 16 == 0 ? stamp : ~stamp
            withUnsafeBytes(of: word) { page.replaceSubrange(offset..<(offset + 8), with: $0) }
        }
        return page
    }

    /// A cache with `pages` swapped-out pages, two to a frame (zbud by
    /// default), and a swap device.
    private func cacheWithPersistentPages(_ pages: Int, allocator: ZCacheAllocatorKind = .zbud)
        throws -> (ZCache, [(SwapEntry, [UInt8])])
    {
        var configuration = ZCacheConfiguration()
        configuration.pageframes = 1024
        configuration.shrinkerPolicy = .zswap
        configuration.allocator = allocator
        let cache = ZCache(configuration: configuration)
        let device = try SwapDevice.create(path: try scratchSwapPath(self), pages: 512)
        try cache.attachSwapDevice(device)
        var entries: [(SwapEntry, [UInt8])] = []
        for id in 0..<pages {
            let page = Self.compressiblePage(id)
            entries.append((try cache.swapOut(page), page))
        }
        if allocator == .zbud { XCTAssertEqual(cache.statistics.zcache.persPageframes, pages / 2) }
        return (cache, entries)
    }

    private static let noLRU = HostLRUCounts(
        activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0)

    /// shrink_memcg_cb: a referenced entry is rotated with its bit cleared; the
    /// next walk that reaches it writes it back. The oldest frames go first.
    func testSecondChanceRotatesOnceThenWritesBackTheOldest() throws {
        let (cache, entries) = try cacheWithPersistentPages(40)
        let stats = cache.statistics.zcache
        let frames = stats.persPageframes
        // Everything is in excess; the target is the frames scaled by frames per page.
        let target = (frames * frames + stats.persZPages - 1) / stats.persZPages
        XCTAssertLessThan(target, frames, "pages compress two to a frame")
        let first = cache.shrinkerScan(counts: Self.noLRU)
        XCTAssertEqual(first.writebackTarget, target)
        XCTAssertEqual(first.secondChances, target, "every frame is new: rotated, not written")
        XCTAssertEqual(first.writtenBack, 0)
        XCTAssertEqual(cache.statistics.zcache.persPageframes, frames)

        // Walks go on around the LRU: each frame is rotated once before any
        // frame is written back; after that, the rotated ones go, oldest first.
        var written = 0
        var scans = 1
        while written == 0 && scans < 100 {
            let result = cache.shrinkerScan(counts: Self.noLRU)
            written += result.writtenBack
            scans += 1
        }
        cache.waitForWriteback()
        XCTAssertEqual(scans, (frames + target - 1) / target + (frames % target == 0 ? 1 : 0))
        XCTAssertGreaterThan(written, 0)
        XCTAssertEqual(cache.statistics.zcache.shrinkerSecondChances, frames)
        // The pages written back are the oldest ones: they come from the device.
        var fromDevice: [Int] = []
        for (index, (entry, page)) in entries.enumerated() {
            let (bytes, source) = try cache.swapIn(entry)
            XCTAssertEqual(bytes, page)
            if source == .device { fromDevice.append(index) }
        }
        XCTAssertEqual(fromDevice.count, written)
        XCTAssertEqual(fromDevice, Array(0..<written), "the LRU end went first")
    }

    /// The same rule under zsmalloc, with the per-entry LRU's referenced bit:
    /// every entry is referenced at store, so walks rotate each entry exactly
    /// once before the first is written back, and the oldest go first.
    func testSecondChancePerEntryUnderZSmalloc() throws {
        let (cache, entries) = try cacheWithPersistentPages(40, allocator: .zsmalloc)
        let first = cache.shrinkerScan(counts: Self.noLRU)
        XCTAssertGreaterThan(first.writebackTarget, 0)
        XCTAssertEqual(first.secondChances, min(first.writebackTarget, entries.count))
        XCTAssertEqual(first.writtenBack, 0)
        var written = first.writtenBack
        var scans = 1
        while written == 0 && scans < 200 {
            written += cache.shrinkerScan(counts: Self.noLRU).writtenBack
            scans += 1
        }
        cache.waitForWriteback()
        XCTAssertGreaterThan(written, 0)
        XCTAssertEqual(
            cache.statistics.zcache.shrinkerSecondChances, entries.count,
            "each entry was spared exactly once before any was written back")
        var fromDevice: [Int] = []
        for (index, (entry, page)) in entries.enumerated() {
            let (bytes, source) = try cache.swapIn(entry)
            XCTAssertEqual(bytes, page)
            if source == .device { fromDevice.append(index) }
        }
        XCTAssertEqual(fromDevice, Array(0..<written), "the LRU end went first")
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    /// zswap_shrinker_count: reported disk swap-ins are subtracted from the
    /// freeable count, consumed, and whatever exceeds it is kept for later.
    func testDiskSwapInsReduceTheNextTargetAndAreConsumed() throws {
        let (cache, _) = try cacheWithPersistentPages(80)
        /// The target a scan must have when `pending` swap-ins are to be
        /// subtracted: with no anon LRU, every persistent frame is in excess.
        func expected(subtracting pending: Int) -> Int {
            cache.waitForWriteback()
            let stats = cache.statistics.zcache
            let freeable = stats.persPageframes - min(stats.persPageframes, pending)
            return freeable > 0
                ? (freeable * stats.persPageframes + stats.persZPages - 1) / stats.persZPages : 0
        }

        cache.reportDiskSwapIns(3)
        var target = expected(subtracting: 3)
        XCTAssertEqual(cache.shrinkerScan(counts: Self.noLRU).writebackTarget, target)
        target = expected(subtracting: 0)
        XCTAssertEqual(
            cache.shrinkerScan(counts: Self.noLRU).writebackTarget, target,
            "consumed by the scan before")

        cache.waitForWriteback()
        let frames = cache.statistics.zcache.persPageframes
        cache.reportDiskSwapIns(frames + 5)
        XCTAssertEqual(cache.shrinkerScan(counts: Self.noLRU).writebackTarget, 0)
        target = expected(subtracting: 5)
        XCTAssertEqual(
            cache.shrinkerScan(counts: Self.noLRU).writebackTarget, target,
            "the 5 beyond the freeable count wait for the next scan")
        XCTAssertEqual(cache.statistics.zcache.diskSwapIns, frames + 8)
        cache.waitForWriteback()
    }

    /// A zswap-policy cache of `pageframes` with a swap device of 4096 pages
    /// and a host that lends writeback up to 64 pages.
    private func zswapCache(
        _ allocator: ZCacheAllocatorKind, pageframes: Int, acceptThresholdPercent: Int
    ) throws -> ZCache {
        var configuration = ZCacheConfiguration()
        configuration.allocator = allocator
        configuration.pageframes = pageframes
        configuration.shrinkerPolicy = .zswap
        configuration.acceptThresholdPercent = acceptThresholdPercent
        let cache = ZCache(configuration: configuration, host: TestHost(forcedBudget: 64))
        try cache.attachSwapDevice(
            try SwapDevice.create(path: try scratchSwapPath(self), pages: 4096))
        return cache
    }

    /// shrink_worker: once a persistent put found the pool full, the next scan
    /// writes back until the frames in use are at the accept threshold,
    /// even when the LRU counts ask for nothing.
    func testFullPoolIsWrittenBackToTheAcceptThreshold() throws {
        // zbud: frame counts of zbud's pairs.
        let cache = try zswapCache(.zbud, pageframes: 40, acceptThresholdPercent: 50)
        var entries: [(SwapEntry, [UInt8])] = []
        for id in 0..<100 {
            let page = versionedPage(id: id, version: 3)
            entries.append((try cache.swapOut(page), page))
        }
        XCTAssertEqual(cache.pageframesInUse, 40)
        XCTAssertGreaterThan(cache.statistics.zcache.persAteEphFailed, 0, "the pool was full")
        let covering = HostLRUCounts(
            activeFile: 1000, inactiveFile: 0, activeAnon: 1000, inactiveAnon: 0)
        let result = cache.shrinkerScan(counts: covering)
        cache.waitForWriteback()
        XCTAssertEqual(result.writebackTarget, 0, "the LRU counts ask for nothing")
        XCTAssertGreaterThan(result.writtenBack, 0)
        XCTAssertEqual(cache.pageframesInUse, 20, "written back down to the threshold")
        // Not again until the pool is full again.
        XCTAssertEqual(cache.shrinkerScan(counts: covering).writtenBack, 0)
        for (entry, page) in entries {
            XCTAssertEqual(try cache.swapIn(entry).0, page)
        }
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    /// shrink_worker under zsmalloc: writing a page back frees its slot, not a
    /// frame. When the oldest pages are scattered over zspages that newer pages
    /// share, the worker compacts between batches, so it writes back about the
    /// pages the threshold asks for, not old and new pages until whole zspages
    /// happen to empty.
    func testFullZsmallocPoolIsWrittenBackWithoutOvershoot() throws {
        let pageframes = 256
        let cache = try zswapCache(.zsmalloc, pageframes: pageframes, acceptThresholdPercent: 90)
        // Old pages filling most of the pool, then every other one swapped in:
        // a hole next to an old page in every zspage.
        var old: [(SwapEntry, [UInt8])] = []
        var id = 0
        while cache.pageframesInUse < 200 {
            let page = versionedPage(id: id, version: 1)
            old.append((try cache.swapOut(page), page))
            id += 1
        }
        var entries: [(SwapEntry, [UInt8])] = []
        for (index, (entry, page)) in old.enumerated() {
            if index % 2 == 0 {
                XCTAssertEqual(try cache.swapIn(entry).0, page)
            } else {
                entries.append((entry, page))
            }
        }
        // New pages fill the holes, then the pool, until a put finds it full.
        while cache.statistics.zcache.persAteEphFailed == 0 {
            let page = versionedPage(id: id, version: 2)
            entries.append((try cache.swapOut(page), page))
            id += 1
        }
        // Every entry is stored referenced (a second chance): a first scan's
        // worker only clears the bits, 16 batches' worth, oldest first.
        let covering = HostLRUCounts(
            activeFile: 1000, inactiveFile: 0, activeAnon: 1000, inactiveAnon: 0)
        let clearing = cache.shrinkerScan(counts: covering)
        XCTAssertEqual(clearing.writtenBack, 0)
        XCTAssertGreaterThan(clearing.secondChances, old.count / 2)
        // The pool found full again: the next scan's worker writes back.
        let refused = versionedPage(id: id, version: 2)
        entries.append((try cache.swapOut(refused), refused))
        let full = cache.statistics
        let threshold = pageframes * 90 / 100
        let excess = cache.pageframesInUse - threshold
        XCTAssertGreaterThan(excess, 0)
        let pagesPerFrame = Double(full.zcache.persZPages) / Double(full.allocator.framesInUse)
        let result = cache.shrinkerScan(counts: covering)
        cache.waitForWriteback()
        XCTAssertLessThanOrEqual(cache.pageframesInUse, threshold, "down to the threshold")
        // An ideal repacking would free `excess` frames by writing back
        // excess * pagesPerFrame pages; allow 2.5 times that and a batch
        // (writing back until zspages empty took 4.7 times that here).
        let ideal = Double(excess) * pagesPerFrame
        XCTAssertLessThanOrEqual(
            Double(result.writtenBack), 2.5 * ideal + 32,
            "\(result.writtenBack) pages written back for \(excess) frames over the threshold "
                + "(\(pagesPerFrame) pages per frame)")
        for (entry, page) in entries {
            XCTAssertEqual(try cache.swapIn(entry).0, page)
        }
        XCTAssertTrue(cache.checkFrameAccounting())
    }
}
