// The per-entry LRU (allocators without a frame LRU: zsmalloc) against a
// model: an array of keys in the order they were stored, oldest first, as
// zswap's LRU since 6.5. A store of a key moves it to the newest end, a
// removing get or a flush takes it out, ephemeral eviction drops the oldest
// entries, and writeback writes back the oldest persistent entries.

import XCTest

@testable import ZBud
@testable import ZCache

final class EntryLRUTests: XCTestCase {
    private func zsmallocCache(pageframes: Int = 64) -> ZCache {
        CoreTestSupport.cache(pageframes: pageframes) { $0.allocator = .zsmalloc }
    }

    /// The LRU's keys, oldest first, read back through the keys stored in
    /// front of each object.
    private func lruKeys(_ cache: ZCache, _ zbudClass: ZBudClass) throws -> [TMemKey] {
        let lru = try XCTUnwrap(cache.store.lru(zbudClass))
        let byAllocation = Dictionary(
            uniqueKeysWithValues: cache.tmem.checkInvariants().compactMap { key, handle in
                handle.isSameFilled || handle.zbudClass != zbudClass
                    ? nil : (handle.allocation, key)
            })
        return try lru.handlesOldestFirst().map { try XCTUnwrap(byAllocation[$0]) }
    }

    func testEphemeralOrderFollowsAModelAndEvictionTakesTheOldest() throws {
        let cache = zsmallocCache()
        let fs = try cache.cleancacheInitFilesystem()
        var rng = SeededGenerator(seed: 0xE1)
        var model: [UInt32] = []  // indexes of one file, oldest first
        let file = ObjectID(9)
        for step in 0..<3000 {
            let index = UInt32.random(in: 0..<40, using: &rng)
            let page = TestPages.text(seed: UInt64(step)).bytes
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let stored = try page.withUnsafeBytes {
                    try cache.cleancachePut(fs, file: file, index: index, page: $0)
                }
                XCTAssertTrue(stored)
                model.removeAll { $0 == index }
                model.append(index)
            case 5..<7:
                var out = [UInt8](repeating: 0, count: pageSize)
                let hit = try out.withUnsafeMutableBytes {
                    try cache.cleancacheGet(fs, file: file, index: index, into: $0)
                }
                XCTAssertEqual(hit, model.contains(index), "step \(step)")
                model.removeAll { $0 == index }
            case 7:
                try cache.cleancacheInvalidatePage(fs, file: file, index: index)
                model.removeAll { $0 == index }
            default:
                // Evict the oldest entry: exactly the model's first key goes.
                guard !model.isEmpty else { continue }
                XCTAssertTrue(cache.evictEphemeral())
                model.removeFirst()
            }
            let expected = model.map { TMemKey(pool: fs.pool, object: file, index: $0) }
            XCTAssertEqual(try lruKeys(cache, .ephemeral), expected, "step \(step)")
        }
        XCTAssertTrue(cache.checkFrameAccounting())
        cache.checkInvariants()
    }

    func testAFullPoolEvictsTheOldestEphemeralPagesToStore() throws {
        let cache = zsmallocCache(pageframes: 8)
        let fs = try cache.cleancacheInitFilesystem()
        try cache.frontswapInit(type: 0)
        // Fill the pool with ephemeral pages, oldest first.
        var stored: [UInt32] = []
        for index in UInt32(0)..<400 {
            let page = CoreTestSupport.partRandom(1500, seed: UInt64(index))
            let ok = try page.withUnsafeBytes {
                try cache.cleancachePut(fs, file: ObjectID(1), index: index, page: $0)
            }
            if ok { stored.append(index) }
        }
        let before = cache.statistics.zcache
        XCTAssertGreaterThan(before.ephAteTail, 0, "the pool filled and ate its tail")
        // What survives is a suffix of the put order: eviction took the oldest.
        let survivors = try lruKeys(cache, .ephemeral).map(\.index)
        XCTAssertEqual(survivors, Array(stored.suffix(survivors.count)))
        XCTAssertGreaterThan(survivors.count, 0)
        // A persistent store into the full pool evicts ephemeral pages (pers_ate_eph).
        let page = CoreTestSupport.partRandom(1500, seed: 999)
        XCTAssertEqual(try cache.store(offset: 1, page), .stored)
        XCTAssertEqual(try cache.load(offset: 1), page)
        XCTAssertTrue(cache.checkFrameAccounting())
        cache.checkInvariants()
    }

    func testWritebackTakesTheOldestPersistentEntries() throws {
        let cache = zsmallocCache(pageframes: 256)
        let path = try scratchSwapPath(self)
        let device = try SwapDevice.create(path: path, pages: 128)
        try cache.attachSwapDevice(device)
        let pages = (0..<40).map { versionedPage(id: $0, version: 1) }
        let entries = try pages.map { try cache.swapOut($0) }
        // A removing load takes an entry out of the order; the rest keep it.
        XCTAssertEqual(try cache.swapIn(entries[1]).1, .zcache)
        var order = Array(entries.indices.filter { $0 != 1 })
        for round in 0..<5 {
            // One "pageframe" of writeback takes two entries (two pages).
            XCTAssertEqual(cache.writeback(pageframes: 1), 2, "round \(round)")
            cache.waitForWriteback()
            // Each writeback round takes the two oldest entries.
            let written = order.prefix(2)
            order.removeFirst(2)
            let inZCache = try Set(lruKeys(cache, .persistent))
            XCTAssertEqual(inZCache.count, order.count)
            for index in written {
                let (bytes, source) = try cache.swapIn(entries[index])
                XCTAssertNotEqual(source, .zcache, "entry \(index) was written back")
                XCTAssertEqual(bytes, pages[index])
            }
        }
        XCTAssertEqual(cache.statistics.zcache.writtenbackPages, 10)
        for index in order {
            let (bytes, source) = try cache.swapIn(entries[index])
            XCTAssertEqual(source, .zcache, "entry \(index) stayed in zcache")
            XCTAssertEqual(bytes, pages[index])
        }
        XCTAssertTrue(cache.checkFrameAccounting())
        cache.checkInvariants()
        device.close()
    }
}

/// The per-entry referenced bit (zswap's `entry->referenced`) against a model:
/// an array of handles oldest first and the set of referenced ones. A link
/// sets the bit, a non-exclusive get sets it, a rotation clears it and moves
/// the entry to the newest end, stopping at the first unreferenced entry.
final class EntryLRUReferencedBitTests: XCTestCase {
    func testReferencedBitAndRotationFollowAModel() {
        let lru = EntryLRU()
        var rng = SeededGenerator(seed: 0x5EC0)
        var order: [UInt32] = []
        var referenced = Set<UInt32>()
        var isolated: [UInt32] = []
        // Handles from two tables, as zsmalloc's class << 24 | slot.
        let handles: [UInt32] = (0..<50).map { UInt32($0 % 2) << 24 | UInt32($0 * 3) }
        for step in 0..<20_000 {
            let handle = handles[Int.random(in: 0..<handles.count, using: &rng)]
            let linked = order.contains(handle)
            let taken = isolated.contains(handle)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<3 where !linked && !taken:
                lru.link(handle)
                order.append(handle)
                referenced.insert(handle)
            case 3 where linked:
                XCTAssertTrue(lru.release(handle))
                order.removeAll { $0 == handle }
                referenced.remove(handle)
            case 4..<6:
                // A non-exclusive get: only a linked entry gets the bit.
                lru.markReferenced(handle)
                if linked { referenced.insert(handle) }
            case 6..<8:
                let limit = Int.random(in: 1...8, using: &rng)
                var expected = 0
                while expected < limit, let first = order.first, referenced.contains(first) {
                    referenced.remove(first)
                    order.removeFirst()
                    order.append(first)
                    expected += 1
                }
                XCTAssertEqual(lru.rotateReferencedOldest(limit: limit), expected, "step \(step)")
            case 8:
                let taken = [UInt32](unsafeUninitializedCapacity: 1) { buffer, count in
                    count = lru.isolateOldest(into: buffer)
                }
                XCTAssertEqual(taken, Array(order.prefix(1)), "step \(step)")
                if let first = taken.first {
                    order.removeFirst()
                    isolated.append(first)
                }
            default:
                // End an isolation: back at the newest end, its bit as it was.
                guard !isolated.isEmpty else { continue }
                let handle = isolated.removeFirst()
                XCTAssertFalse(lru.finishIsolation(handle))
                order.append(handle)
            }
            XCTAssertEqual(lru.handlesOldestFirst(), order, "step \(step)")
            for handle in handles where order.contains(handle) {
                XCTAssertEqual(
                    lru.referencedBit(handle), referenced.contains(handle),
                    "step \(step) handle \(handle)")
            }
        }
        lru.checkInvariants()
    }

    /// A persistent get that leaves the page (non-exclusive gets) marks its
    /// entry, so the zswap walk spares it once; an untouched entry is not.
    func testNonExclusiveGetMarksTheEntry() throws {
        let cache = CoreTestSupport.cache(pageframes: 64) {
            $0.allocator = .zsmalloc
            $0.exclusiveGets = false
        }
        let pool = try cache.newPool(client: try cache.newClient(), kind: .persistent)
        let lru = try XCTUnwrap(cache.store.lru(.persistent))
        for index in UInt32(0)..<4 {
            let page = TestPages.text(seed: UInt64(index)).bytes
            _ = try page.withUnsafeBytes {
                try cache.put(TMemKey(pool: pool, object: ObjectID(1), index: index), page: $0)
            }
        }
        let handles = lru.handlesOldestFirst()
        XCTAssertEqual(handles.count, 4)
        XCTAssertTrue(handles.allSatisfy { lru.referencedBit($0) }, "set at store")
        XCTAssertEqual(lru.rotateReferencedOldest(limit: 4), 4)
        XCTAssertTrue(handles.allSatisfy { !lru.referencedBit($0) }, "cleared by the walk")
        var out = [UInt8](repeating: 0, count: pageSize)
        XCTAssertTrue(
            try out.withUnsafeMutableBytes {
                try cache.get(TMemKey(pool: pool, object: ObjectID(1), index: 0), into: $0)
            })
        XCTAssertEqual(lru.handlesOldestFirst(), handles, "a get does not move the entry")
        XCTAssertTrue(lru.referencedBit(handles[0]))
        XCTAssertEqual(lru.rotateReferencedOldest(limit: 4), 1, "only the page got is spared")
        XCTAssertEqual(lru.handlesOldestFirst(), Array(handles[1...]) + [handles[0]])
    }
}
