// Bad input is a typed error and a counter, never a crash, and never damage
// to pages stored by anyone else.

import XCTest

@testable import ZBud
@testable import ZCache

final class BadInputTests: XCTestCase {
    /// A cache holding a few pages in both front ends, to check they survive.
    private struct Fixture {
        let cache: ZCache
        let fs: ZCache.FilesystemID
        let pages: [[UInt8]]

        init() throws {
            cache = CoreTestSupport.cache(pageframes: 16)
            try cache.frontswapInit(type: 0)
            fs = try cache.cleancacheInitFilesystem()
            pages = (0..<4).map { TestPages.structured(seed: 50 + UInt64($0)).bytes }
            for (n, page) in pages.enumerated() {
                XCTAssertEqual(try cache.store(offset: UInt64(n), page), .stored)
                XCTAssertTrue(try cache.put(fs, file: 9, index: UInt32(n), page))
            }
        }

        func assertIntact(file: StaticString = #filePath, line: UInt = #line) throws {
            cache.assertConsistent(file: file, line: line)
            for (n, page) in pages.enumerated() {
                XCTAssertEqual(
                    digest(try cache.load(offset: UInt64(n))), digest(page), file: file, line: line)
                XCTAssertEqual(
                    digest(try cache.get(fs, file: 9, index: UInt32(n))), digest(page), file: file,
                    line: line)
            }
            XCTAssertEqual(cache.statistics.framePool.framesInUse, 0, file: file, line: line)
        }
    }

    private func assertThrows(
        _ expected: ZCacheError, _ body: () throws -> Void, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) {
            XCTAssertEqual($0 as? ZCacheError, expected, file: file, line: line)
        }
    }

    func testPagesThatAreNotOnePage() throws {
        let f = try Fixture()
        let cache = f.cache
        var errors = 0
        for size in [0, 1, pageSize - 1, pageSize + 1, 2 * pageSize] {
            let page = [UInt8](repeating: 7, count: size)
            var out = [UInt8](repeating: 0, count: size)
            assertThrows(.pageNotOnePage(size)) {
                _ = try page.withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: 1, page: $0)
                }
            }
            assertThrows(.pageNotOnePage(size)) {
                _ = try out.withUnsafeMutableBytes {
                    try cache.frontswapLoad(type: 0, offset: 1, into: $0)
                }
            }
            assertThrows(.pageNotOnePage(size)) {
                _ = try page.withUnsafeBytes {
                    try cache.cleancachePut(f.fs, file: ObjectID(9), index: 1, page: $0)
                }
            }
            assertThrows(.pageNotOnePage(size)) {
                _ = try out.withUnsafeMutableBytes {
                    try cache.cleancacheGet(f.fs, file: ObjectID(9), index: 1, into: $0)
                }
            }
            let key = TMemKey(pool: f.fs.pool, object: ObjectID(9), index: 2)
            assertThrows(.pageNotOnePage(size)) {
                _ = try page.withUnsafeBytes { try cache.put(key, page: $0) }
            }
            assertThrows(.pageNotOnePage(size)) {
                _ = try out.withUnsafeMutableBytes { try cache.get(key, into: $0) }
            }
            errors += 6
        }
        XCTAssertEqual(cache.statistics.zcache.badInputErrors, errors)
        XCTAssertEqual(cache.statistics.zcache.persZPages + cache.statistics.zcache.ephZPages, 8)
        try f.assertIntact()
    }

    func testSwapTypesThatAreOutOfRangeOrNotInitialised() throws {
        let f = try Fixture()
        let cache = f.cache
        let page = TestPages.text(seed: 1).bytes
        assertThrows(.invalidSwapType(32)) { try cache.frontswapInit(type: 32) }
        assertThrows(.invalidSwapType(-1)) { try cache.frontswapInit(type: -1) }
        assertThrows(.invalidSwapType(32)) { _ = try cache.store(type: 32, offset: 0, page) }
        assertThrows(.swapTypeNotInitialised(5)) { _ = try cache.store(type: 5, offset: 0, page) }
        assertThrows(.swapTypeNotInitialised(5)) { _ = try cache.load(type: 5, offset: 0) }
        assertThrows(.swapTypeNotInitialised(5)) {
            try cache.frontswapInvalidatePage(type: 5, offset: 0)
        }
        assertThrows(.swapTypeNotInitialised(5)) { try cache.frontswapInvalidateArea(type: 5) }
        assertThrows(.invalidSwapOffset(1 << 40)) { _ = try cache.store(offset: 1 << 40, page) }
        assertThrows(.invalidSwapOffset(.max)) { _ = try cache.load(offset: .max) }
        XCTAssertEqual(cache.statistics.zcache.badInputErrors, 9)
        // A type whose area was invalidated is uninitialised until init again.
        try cache.frontswapInit(type: 6)
        XCTAssertEqual(try cache.store(type: 6, offset: 0, page), .stored)
        try cache.frontswapInvalidateArea(type: 6)
        assertThrows(.swapTypeNotInitialised(6)) { _ = try cache.store(type: 6, offset: 0, page) }
        try f.assertIntact()
    }

    func testUnknownAndDestroyedPools() throws {
        let f = try Fixture()
        let cache = f.cache
        let page = TestPages.text(seed: 2).bytes
        let dead = try cache.cleancacheInitFilesystem()
        XCTAssertTrue(try cache.put(dead, file: 1, index: 0, page))
        try cache.cleancacheInvalidateFilesystem(dead)
        XCTAssertEqual(cache.statistics.zcache.ephZPages, 4)
        let unknown = TMemError.unknownPool(dead.pool)
        assertThrows(.tmem(unknown)) { _ = try cache.put(dead, file: 1, index: 0, page) }
        assertThrows(.tmem(unknown)) { _ = try cache.get(dead, file: 1, index: 0) }
        assertThrows(.tmem(unknown)) {
            try cache.cleancacheInvalidatePage(dead, file: ObjectID(1), index: 0)
        }
        assertThrows(.tmem(unknown)) {
            try cache.cleancacheInvalidateInode(dead, file: ObjectID(1))
        }
        assertThrows(.tmem(unknown)) { try cache.cleancacheInvalidateFilesystem(dead) }
        let never = PoolID(client: ClientID(rawValue: 9), index: 3)
        let key = TMemKey(pool: never, object: ObjectID(1), index: 0)
        XCTAssertThrowsError(try page.withUnsafeBytes { try cache.put(key, page: $0) })
        XCTAssertThrowsError(try cache.flushPage(key))
        XCTAssertThrowsError(try cache.flushObject(pool: never, object: ObjectID(1)))
        XCTAssertThrowsError(try cache.destroyPool(never))
        XCTAssertThrowsError(try cache.newPool(client: ClientID(rawValue: 9), kind: .ephemeral))
        XCTAssertEqual(cache.statistics.zcache.badInputErrors, 10)
        try f.assertIntact()
    }

    func testFullClientAndPoolTables() throws {
        let f = try Fixture()
        let cache = f.cache
        // zcache's own client is one of 16; it holds frontswap's pool and one filesystem.
        var clients: [ClientID] = []
        for _ in 0..<15 { clients.append(try cache.newClient()) }
        assertThrows(.tmem(.tooManyClients)) { _ = try cache.newClient() }
        var pools: [PoolID] = []
        for _ in 0..<16 { pools.append(try cache.newPool(client: clients[0], kind: .persistent)) }
        assertThrows(.tmem(.tooManyPools(clients[0]))) {
            _ = try cache.newPool(client: clients[0], kind: .ephemeral)
        }
        var filesystems = 0
        while (try? cache.cleancacheInitFilesystem()) != nil { filesystems += 1 }
        XCTAssertEqual(filesystems, 14)
        XCTAssertEqual(cache.statistics.zcache.badInputErrors, 3)
        // The user pools work, and destroying one frees its slot.
        let key = TMemKey(pool: pools[3], object: ObjectID(1), index: 1)
        let page = TestPages.text(seed: 3).bytes
        XCTAssertEqual(try page.withUnsafeBytes { try cache.put(key, page: $0) }, .stored)
        try cache.destroyPool(pools[3])
        XCTAssertNoThrow(try cache.newPool(client: clients[0], kind: .ephemeral))
        try f.assertIntact()
    }

    func testDamagedCompressedDataIsAnErrorAndHarmsNoOtherPage() throws {
        // Frames are handed out in ascending order: the first page lands in frame 0.
        let cache = CoreTestSupport.cache(pageframes: 4)
        try cache.frontswapInit(type: 0)
        let victim = CoreTestSupport.wholeFramePage(seed: 1)
        let bystander = CoreTestSupport.wholeFramePage(seed: 2)
        XCTAssertEqual(try cache.store(offset: 0, victim), .stored)
        XCTAssertEqual(try cache.store(offset: 1, bystander), .stored)
        // Overwrite the data (not the 32-byte owner header) of bud 0 of frame 0.
        let frame = cache.store.pool.address(of: PageFrameNumber(rawValue: 0))
        (frame + 32).initializeMemory(as: UInt8.self, repeating: 0xFF, count: 2000)
        XCTAssertThrowsError(try cache.load(offset: 0)) {
            guard case .decompressionFailed = $0 as? ZCacheError else {
                return XCTFail("\($0)")
            }
        }
        XCTAssertEqual(cache.statistics.zcache.decompressErrors, 1)
        // The damaged page is gone (the failed get removed it); the other one is whole.
        XCTAssertNil(digest(try cache.load(offset: 0)))
        XCTAssertEqual(digest(try cache.load(offset: 1)), digest(bystander))
        XCTAssertEqual(cache.statistics.framePool.framesInUse, 0)
        cache.assertConsistent()
    }
}
