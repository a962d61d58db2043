// Helpers shared by the ZCache core tests: caches with small budgets, pages
// built to compress to a chosen size with the cache's own codec, and
// array-based wrappers around the pointer-based API.

import XCTest

@testable import ZCache

enum CoreTestSupport {
    /// A cache with `pageframes` frames and the given tweaks, under zbud
    /// unless a tweak names another allocator: most core tests check
    /// zcache 2013's frame-level behaviour (pairing, eating a frame, the
    /// shrinker's frame formulas), which is zbud's; tests of behaviour every
    /// allocator shares run under each (`AllocatorTestCase`).
    static func cache(
        pageframes: Int, _ configure: (inout ZCacheConfiguration) -> Void = { _ in }
    ) -> ZCache {
        var configuration = ZCacheConfiguration()
        configuration.allocator = .zbud
        configuration.pageframes = pageframes
        configure(&configuration)
        return ZCache(configuration: configuration)
    }

    /// The compressed size of `page` with `kind`, nil when it does not fit
    /// `Compressor.maxCompressedSize`.
    static func zsize(_ page: [UInt8], _ kind: CompressorKind = .lz4) -> Int? {
        let compressor = Compressor(kind)
        var buffer = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        return page.withUnsafeBytes { source in
            buffer.withUnsafeMutableBytes {
                compressor.compress(source, into: $0, bound: Compressor.maxCompressedSize)
            }
        }
    }

    /// A page of `randomCount` random bytes followed by zeros.
    static func partRandom(_ randomCount: Int, seed: UInt64) -> [UInt8] {
        TestPages.randomBytes(count: randomCount, seed: seed)
            + [UInt8](repeating: 0, count: pageSize - randomCount)
    }

    /// A page (random head, zero tail) whose LZ4 size lies in `range`, found by
    /// bisection on the length of the random head (the size grows with it).
    static func page(compressingTo range: ClosedRange<Int>, seed: UInt64) -> [UInt8] {
        var low = 1
        var high = pageSize
        while low < high {
            let middle = (low + high) / 2
            let size = zsize(partRandom(middle, seed: seed)) ?? Int.max
            if size < range.lowerBound { low = middle + 1 } else { high = middle }
        }
        for count in max(1, low - 64)...min(pageSize, low + 64) {
            let candidate = partRandom(count, seed: seed)
            if let size = zsize(candidate), range.contains(size) { return candidate }
        }
        preconditionFailure("no part-random page compresses into \(range)")
    }

    /// A page that takes a frame alone in either class: its zbud bud needs more
    /// than half a frame (34+ chunks), and it stays under the 2560-byte mean
    /// limit so persistent stores of it are never refused for poor compression.
    static func wholeFramePage(seed: UInt64) -> [UInt8] {
        page(compressingTo: 2100...2500, seed: seed)
    }
}

extension ZCache {
    func store(type: Int = 0, offset: UInt64, _ page: [UInt8], wasActive: Bool = true) throws
        -> PutResult
    {
        try page.withUnsafeBytes {
            try frontswapStore(type: type, offset: offset, page: $0, wasActive: wasActive)
        }
    }

    /// The page at the swap entry, or nil on a miss. The buffer starts as
    /// 0xA5 bytes so a load that writes nothing is visible.
    func load(type: Int = 0, offset: UInt64) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0xA5, count: pageSize)
        let hit = try out.withUnsafeMutableBytes {
            try frontswapLoad(type: type, offset: offset, into: $0)
        }
        return hit ? out : nil
    }

    func put(
        _ fs: FilesystemID, file: UInt64, index: UInt32, _ page: [UInt8], wasActive: Bool = true
    )
        throws -> Bool
    {
        try page.withUnsafeBytes {
            try cleancachePut(
                fs, file: ObjectID(file), index: index, page: $0, wasActive: wasActive)
        }
    }

    func get(_ fs: FilesystemID, file: UInt64, index: UInt32) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0xA5, count: pageSize)
        let hit = try out.withUnsafeMutableBytes {
            try cleancacheGet(fs, file: ObjectID(file), index: index, into: $0)
        }
        return hit ? out : nil
    }

    /// Frame accounting plus the allocators' invariants, as one assertion:
    /// zcache's counts agree with the allocator's own (zbud's, or zsmalloc's).
    func assertConsistent(
        _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertTrue(checkFrameAccounting(), "frame accounting \(message)", file: file, line: line)
        checkInvariants()
        let stats = statistics
        XCTAssertEqual(
            stats.framePool.invalidFrees, 0, "invalid frees \(message)", file: file, line: line)
        let allocator = stats.allocator
        XCTAssertEqual(
            stats.zcache.ephPageframes, allocator.ephemeral.framesInUse, file: file, line: line)
        XCTAssertEqual(
            stats.zcache.persPageframes, allocator.persistent.framesInUse, file: file, line: line)
        XCTAssertEqual(stats.zcache.ephZPages, allocator.ephemeral.objects, file: file, line: line)
        XCTAssertEqual(
            stats.zcache.persZPages, allocator.persistent.objects, file: file, line: line)
        if allocator.allocator == .zbud {
            XCTAssertEqual(
                stats.zcache.ephPageframes, stats.zbud.ephPageframes, file: file, line: line)
            XCTAssertEqual(stats.zcache.persZPages, stats.zbud.persZPages, file: file, line: line)
        }
    }
}

/// A short stand-in for a page in assertion messages: its length, an FNV-1a
/// hash and its first bytes (so a failure does not print 4096 numbers).
func digest(_ bytes: [UInt8]?) -> String? {
    guard let bytes else { return nil }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return "\(bytes.count) bytes, fnv \(String(hash, radix: 16)), starts \(bytes.prefix(8))"
}
