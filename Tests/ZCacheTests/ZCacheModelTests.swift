// A randomized model test of both front ends against dictionaries.
//
// Rules checked (the issue's):
//   - a persistent page stored and not invalidated loads back bit-identical;
//     a refused store leaves the key absent (the old copy flushed);
//   - an ephemeral get misses or returns exactly the bytes last put (a
//     zero-filled ephemeral page takes no frame, so it is never evicted: it
//     must hit); a refused put leaves the key absent;
//   - frame accounting after every step, zbud invariants and counters against
//     the model every `checkEvery` steps;
//   - destroying everything at the end returns every frame.
//
// Pages are cheap: one of a few precomputed patterns (zero, well, fairly and
// poorly compressible, incompressible) with (key, version) stamped in, so
// compression varies and stale or crossed pages are caught.
//
// Each test runs under zbud and under zsmalloc (the zsmalloc runs take half
// the operations, to keep CI time in check).
// ZCACHE_MODEL_OPS sets the operations per zbud test (default 1,000,000);
// ZCACHE_MODEL_SEED the seed.

import Foundation
import XCTest
import ZCacheSupport

@testable import ZCache

final class ZCacheModelTests: XCTestCase {
    static var operations: Int {
        ProcessInfo.processInfo.environment["ZCACHE_MODEL_OPS"].flatMap(Int.init) ?? 1_000_000
    }
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["ZCACHE_MODEL_SEED"].flatMap(UInt64.init) ?? 0x5EED_2013
    }

    func testModelWithExclusiveGets() throws {
        var model = try CacheModel(seed: Self.seed, exclusiveGets: true, allocator: .zbud)
        try model.run(operations: Self.operations)
    }

    func testModelWithNonExclusiveGets() throws {
        var model = try CacheModel(seed: Self.seed ^ 0xFFFF, exclusiveGets: false, allocator: .zbud)
        try model.run(operations: Self.operations / 4)
    }

    func testModelWithExclusiveGetsZSmalloc() throws {
        var model = try CacheModel(seed: Self.seed, exclusiveGets: true, allocator: .zsmalloc)
        try model.run(operations: Self.operations / 2)
    }

    func testModelWithNonExclusiveGetsZSmalloc() throws {
        var model = try CacheModel(
            seed: Self.seed ^ 0xFFFF, exclusiveGets: false, allocator: .zsmalloc)
        try model.run(operations: Self.operations / 8)
    }
}

/// The page patterns, from most to least compressible.
private enum Pattern: Int, CaseIterable {
    case zero, structured, text, partRandom1000, partRandom3000, partRandom3700, random

    /// Relative frequencies, in percent.
    static let weights = [5, 25, 20, 20, 15, 10, 5]
    /// In poor phases, so the mean persistent zsize climbs above 2560
    /// (mean_compress_poor) and falls back when the phase ends.
    static let poorWeights = [5, 5, 5, 5, 65, 10, 5]
}

private struct Entry: Equatable {
    let pattern: Pattern
    let version: UInt64
}

private struct CacheModel {
    static let swapTypes = [0, 7]
    /// A few offsets per type, spread over the swizzle's object/index split.
    static let swapOffsets: [UInt64] =
        [0, 1, 2, 3, 254, 255, 256, 257, 511, 512, 4096, 65_535, (1 << 32) - 1, (1 << 40) - 1]
        + (0..<UInt64(10)).map { 1000 + $0 * 37 }
    static let files: UInt64 = 6
    static let indexes: UInt32 = 24
    static let pageframes = 24

    let cache: ZCache
    let exclusiveGets: Bool
    var rng: SeededGenerator
    var filesystems: [ZCache.FilesystemID]
    var persistent: [UInt64: Entry] = [:]
    var ephemeral: [UInt64: Entry] = [:]
    var version: UInt64 = 0
    var frozenFor = 0
    var poorPhase = false
    let patterns: [[UInt8]]
    let page: UnsafeMutableRawBufferPointer
    let expected: UnsafeMutableRawBufferPointer
    let checkEvery = 1000
    var step = 0
    var counts: [String: Int] = [:]

    init(seed: UInt64, exclusiveGets: Bool, allocator: ZCacheAllocatorKind) throws {
        rng = SeededGenerator(seed: seed)
        self.exclusiveGets = exclusiveGets
        cache = CoreTestSupport.cache(pageframes: Self.pageframes) {
            $0.exclusiveGets = exclusiveGets
            $0.allocator = allocator
        }
        for type in Self.swapTypes { try cache.frontswapInit(type: type) }
        filesystems = [try cache.cleancacheInitFilesystem(), try cache.cleancacheInitFilesystem()]
        patterns = Pattern.allCases.map { pattern in
            switch pattern {
            case .zero: TestPages.zero().bytes
            case .structured: TestPages.structured(seed: 1).bytes
            case .text: TestPages.text(seed: 2).bytes
            case .partRandom1000: CoreTestSupport.partRandom(1000, seed: 3)
            case .partRandom3000: CoreTestSupport.partRandom(3000, seed: 4)
            case .partRandom3700: CoreTestSupport.partRandom(3700, seed: 5)
            case .random: TestPages.random(seed: 6).bytes
            }
        }
        page = .allocate(byteCount: pageSize, alignment: 16)
        expected = .allocate(byteCount: pageSize, alignment: 16)
    }

    /// Writes the page of `entry` at `key` into `buffer`.
    func build(_ entry: Entry, key: UInt64, into buffer: UnsafeMutableRawBufferPointer) {
        patterns[entry.pattern.rawValue].withUnsafeBytes { buffer.copyMemory(from: $0) }
        guard entry.pattern != .zero else { return }
        let offset = 64 + Int(key % 48) * 64
        buffer.storeBytes(of: key, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: entry.version, toByteOffset: offset + 8, as: UInt64.self)
    }

    mutating func randomPattern() -> Pattern {
        var roll = Int.random(in: 0..<100, using: &rng)
        for (pattern, weight) in zip(
            Pattern.allCases, poorPhase ? Pattern.poorWeights : Pattern.weights)
        {
            if roll < weight { return pattern }
            roll -= weight
        }
        return .text
    }

    mutating func nextEntry() -> Entry {
        version += 1
        return Entry(pattern: randomPattern(), version: version)
    }

    static func persistentKey(type: Int, offset: UInt64) -> UInt64 { UInt64(type) << 48 | offset }
    static func ephemeralKey(fs: Int, file: UInt64, index: UInt32) -> UInt64 {
        UInt64(fs) << 56 | file << 32 | UInt64(index)
    }

    mutating func run(operations: Int) throws {
        defer {
            page.deallocate()
            expected.deallocate()
        }
        let start = Date()
        for _ in 0..<operations {
            step += 1
            if step % 2000 == 0 { poorPhase = Int.random(in: 0..<3, using: &rng) == 0 }
            guard try oneStep() else { return }
            guard cache.checkFrameAccounting() else {
                return XCTFail(
                    "frame accounting broken at step \(step): \(cache.statistics.framePool)")
            }
            if step % checkEvery == 0 { guard checkCounters() else { return } }
        }
        try destroyEverything()
        let stats = cache.statistics.zcache
        print(
            "model: \(operations) ops in \(String(format: "%.1f", Date().timeIntervalSince(start))) s,"
                + " \(cache.configuration.allocator), exclusive gets \(exclusiveGets); \(counts.sorted { $0.key < $1.key });"
                + " eph_ate_tail \(stats.ephAteTail), pers_ate_eph \(stats.persAteEph),"
                + " compress_poor \(stats.compressPoor), mean_compress_poor \(stats.meanCompressPoor),"
                + " failed_pers_puts \(stats.failedPersPuts), put_to_flush \(stats.putToFlush)")
        // The run must have exercised what it claims to.
        if operations >= 100_000 {
            XCTAssertGreaterThan(stats.ephAteTail, 0)
            XCTAssertGreaterThan(stats.persAteEph, 0)
            XCTAssertGreaterThan(stats.evictedEphZPages, 0)
            XCTAssertGreaterThan(stats.compressPoor, 0)
            XCTAssertGreaterThan(stats.meanCompressPoor, 0)
            XCTAssertGreaterThan(stats.putToFlush, 0)
            XCTAssertGreaterThan(counts["eph hit", default: 0], 0)
            XCTAssertGreaterThan(counts["eph evicted", default: 0], 0)
            XCTAssertGreaterThan(counts["pers hit", default: 0], 0)
        }
    }

    /// One random operation; false after a reported failure.
    mutating func oneStep() throws -> Bool {
        if frozenFor > 0 {
            frozenFor -= 1
            if frozenFor == 0 { cache.unfreeze() }
        }
        let roll = Int.random(in: 0..<10_000, using: &rng)
        switch roll {
        case 0..<2500: return try store()
        case 2500..<4000: return try load()
        case 4000..<4400:
            let (type, offset) = randomSwapEntry()
            try cache.frontswapInvalidatePage(type: type, offset: offset)
            persistent[Self.persistentKey(type: type, offset: offset)] = nil
        case 4400..<4405:
            let type = Self.swapTypes.randomElement(using: &rng) ?? 0
            try cache.frontswapInvalidateArea(type: type)
            persistent = persistent.filter { $0.key >> 48 != UInt64(type) }
            try cache.frontswapInit(type: type)
            counts["pers area", default: 0] += 1
        case 4405..<7000: return try put()
        case 7000..<9000: return try get()
        case 9000..<9500:
            let (fs, file, index) = randomFilePage()
            try cache.cleancacheInvalidatePage(filesystems[fs], file: ObjectID(file), index: index)
            ephemeral[Self.ephemeralKey(fs: fs, file: file, index: index)] = nil
        case 9500..<9600:
            let (fs, file, _) = randomFilePage()
            try cache.cleancacheInvalidateInode(filesystems[fs], file: ObjectID(file))
            ephemeral = ephemeral.filter { $0.key >> 32 != UInt64(fs) << 24 | file }
        case 9600..<9605:
            let fs = Int.random(in: 0..<filesystems.count, using: &rng)
            try cache.cleancacheInvalidateFilesystem(filesystems[fs])
            filesystems[fs] = try cache.cleancacheInitFilesystem()
            ephemeral = ephemeral.filter { $0.key >> 56 != UInt64(fs) }
            counts["eph fs", default: 0] += 1
        case 9605..<9620:
            if frozenFor == 0 {
                cache.freeze()
                frozenFor = Int.random(in: 1...30, using: &rng)
            }
        default:
            // Puts to the not-active filter.
            if Bool.random(using: &rng) { return try store(wasActive: false) }
            return try put(wasActive: false)
        }
        return true
    }

    mutating func randomSwapEntry() -> (Int, UInt64) {
        (
            Self.swapTypes.randomElement(using: &rng) ?? 0,
            Self.swapOffsets.randomElement(using: &rng) ?? 0
        )
    }

    mutating func randomFilePage() -> (Int, UInt64, UInt32) {
        (
            Int.random(in: 0..<filesystems.count, using: &rng),
            UInt64.random(in: 0..<Self.files, using: &rng),
            UInt32.random(in: 0..<Self.indexes, using: &rng)
        )
    }

    mutating func store(wasActive: Bool = true) throws -> Bool {
        let (type, offset) = randomSwapEntry()
        let key = Self.persistentKey(type: type, offset: offset)
        let entry = nextEntry()
        build(entry, key: key, into: page)
        let result = try cache.frontswapStore(
            type: type, offset: offset, page: UnsafeRawBufferPointer(page), wasActive: wasActive)
        persistent[key] = result.isStored ? entry : nil
        counts["pers \(result)", default: 0] += 1
        // The result the policy requires, where the page alone decides it.
        let required: PutResult?
        // The not-active filter comes first (cleancache/frontswap wrappers),
        // then freeze (zcache_put_page).
        if !wasActive {
            required = .rejected(.nonActive)
        } else if cache.isFrozen {
            required = .rejected(.frozen)
        } else {
            switch entry.pattern {
            case .zero: required = .storedZeroFilled
            case .partRandom3700, .random: required = .rejected(.compressPoor)
            default: required = nil
            }
        }
        if let required, result != required {
            XCTFail("step \(step): store of \(entry) gave \(result), not \(required)")
            return false
        }
        return true
    }

    mutating func load() throws -> Bool {
        let (type, offset) = randomSwapEntry()
        let key = Self.persistentKey(type: type, offset: offset)
        let hit = try cache.frontswapLoad(type: type, offset: offset, into: page)
        guard let entry = persistent[key] else {
            if hit {
                XCTFail("step \(step): load of absent type \(type) offset \(offset) hit")
                return false
            }
            return true
        }
        guard hit else {
            XCTFail("step \(step): stored \(entry) at type \(type) offset \(offset) did not load")
            return false
        }
        build(entry, key: key, into: expected)
        guard memcmp(page.baseAddress!, expected.baseAddress!, pageSize) == 0 else {
            XCTFail("step \(step): type \(type) offset \(offset) loaded other bytes than \(entry)")
            return false
        }
        counts["pers hit", default: 0] += 1
        if exclusiveGets { persistent[key] = nil }
        return true
    }

    mutating func put(wasActive: Bool = true) throws -> Bool {
        let (fs, file, index) = randomFilePage()
        let key = Self.ephemeralKey(fs: fs, file: file, index: index)
        let entry = nextEntry()
        build(entry, key: key, into: page)
        let stored = try cache.cleancachePut(
            filesystems[fs], file: ObjectID(file), index: index, page: UnsafeRawBufferPointer(page),
            wasActive: wasActive)
        ephemeral[key] = stored ? entry : nil
        counts[stored ? "eph stored" : "eph refused", default: 0] += 1
        let mustRefuse = cache.isFrozen || !wasActive || entry.pattern == .random
        if stored && mustRefuse || !stored && wasActive && !cache.isFrozen && entry.pattern == .zero
        {
            XCTFail("step \(step): put of \(entry) (active \(wasActive)) stored: \(stored)")
            return false
        }
        return true
    }

    mutating func get() throws -> Bool {
        let (fs, file, index) = randomFilePage()
        let key = Self.ephemeralKey(fs: fs, file: file, index: index)
        let hit = try cache.cleancacheGet(
            filesystems[fs], file: ObjectID(file), index: index, into: page)
        let entry = ephemeral.removeValue(forKey: key)
        switch (entry, hit) {
        case (nil, true):
            XCTFail("step \(step): get of absent fs \(fs) file \(file) index \(index) hit")
            return false
        case (let entry?, false):
            if entry.pattern == .zero {
                XCTFail("step \(step): zero-filled \(entry) vanished (it holds no frame)")
                return false
            }
            counts["eph evicted", default: 0] += 1
        case (let entry?, true):
            build(entry, key: key, into: expected)
            guard memcmp(page.baseAddress!, expected.baseAddress!, pageSize) == 0 else {
                XCTFail(
                    "step \(step): fs \(fs) file \(file) index \(index) got other bytes than \(entry)"
                )
                return false
            }
            counts["eph hit", default: 0] += 1
        case (nil, false):
            break
        }
        return true
    }

    /// The counters against the model (at rest: one thread).
    func checkCounters() -> Bool {
        cache.checkInvariants()
        let stats = cache.statistics
        let persPages = persistent.values.filter { $0.pattern != .zero }.count
        let zeroPages =
            persistent.values.filter { $0.pattern == .zero }.count
            + ephemeral.values.filter { $0.pattern == .zero }.count
        let ephPagesAtMost = ephemeral.values.filter { $0.pattern != .zero }.count
        let ok =
            stats.zcache.persZPages == persPages && stats.zcache.zeroFilledPages == zeroPages
            && stats.zcache.ephZPages <= ephPagesAtMost
            && stats.allocator.ephemeral.objects == stats.zcache.ephZPages
            && stats.allocator.persistent.objects == stats.zcache.persZPages
            && stats.zcache.sameFilledPages == zeroPages && stats.framePool.invalidFrees == 0
            && stats.framePool.framesInUse <= Self.pageframes
        if !ok {
            XCTFail(
                "step \(step): counters \(stats.zcache) vs model: pers \(persPages), zero \(zeroPages),"
                    + " eph <= \(ephPagesAtMost)")
        }
        return ok
    }

    mutating func destroyEverything() throws {
        guard checkCounters() else { return }
        for type in Self.swapTypes { try cache.frontswapInvalidateArea(type: type) }
        for fs in filesystems { try cache.cleancacheInvalidateFilesystem(fs) }
        persistent = [:]
        ephemeral = [:]
        let stats = cache.statistics
        XCTAssertEqual(stats.framePool.framesInUse, 0)
        XCTAssertEqual(stats.zcache.ephPageframes + stats.zcache.persPageframes, 0)
        XCTAssertEqual(stats.zcache.ephZPages + stats.zcache.persZPages, 0)
        XCTAssertEqual(stats.zcache.zeroFilledPages, 0)
        XCTAssertEqual(stats.zcache.persZBytes + stats.zcache.ephZBytes, 0)
        XCTAssertEqual(stats.framePool.invalidFrees, 0)
        XCTAssertEqual(stats.framePool.allocatedTotal, stats.framePool.freedTotal)
        XCTAssertTrue(cache.checkFrameAccounting())
        cache.checkInvariants()
    }
}
