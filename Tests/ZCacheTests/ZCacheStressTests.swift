// Many threads on both front ends at once, with a tiny frame budget so
// eviction never stops, and an evictor thread racing the flushes (the seed's
// double-free question, at the ZCache level). Run under the thread sanitizer
// by CI (`swift test --sanitize=thread --filter Stress`).
//
// Each worker has its own swap offsets and its own file, checked exactly
// against a private model (a persistent page loads back bit-identical until
// invalidated; an ephemeral get misses or returns the last put). All workers
// also churn a set of shared keys, where any hit must be a whole, untorn page
// that some thread put at that key. Afterwards the frame accounting is exact,
// no frame was freed twice, and destroying everything returns every frame.
//
// ZCACHE_STRESS_OPS sets the operations per worker (default 50,000).

import Foundation
import Synchronization
import XCTest
import ZCacheSupport

@testable import ZCache

final class ZCacheStressTests: XCTestCase {
    static var operations: Int {
        ProcessInfo.processInfo.environment["ZCACHE_STRESS_OPS"].flatMap(Int.init) ?? 50_000
    }

    private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for thread in 0..<count {
            group.enter()
            Thread {
                body(thread)
                group.leave()
            }.start()
        }
        group.wait()
    }

    func testWorkersOnBothFrontEndsWithEvictionAndSharedKeys() throws {
        try runStress(exclusiveGets: true, allocator: .zbud)
    }

    func testNonExclusiveGets() throws {
        try runStress(exclusiveGets: false, allocator: .zbud, operations: Self.operations / 4)
    }

    /// zsmalloc: the per-entry LRU's evictor (and compaction, which the
    /// evictor's `evictEphemeralPageframes` runs) racing the workers.
    func testWorkersOnBothFrontEndsWithEvictionAndSharedKeysZSmalloc() throws {
        try runStress(exclusiveGets: true, allocator: .zsmalloc)
    }

    func testNonExclusiveGetsZSmalloc() throws {
        try runStress(exclusiveGets: false, allocator: .zsmalloc, operations: Self.operations / 4)
    }

    private func runStress(
        exclusiveGets: Bool, allocator: ZCacheAllocatorKind, operations: Int = operations
    ) throws {
        let workers = 4
        let cache = CoreTestSupport.cache(pageframes: 16) {
            $0.exclusiveGets = exclusiveGets
            $0.allocator = allocator
        }
        try cache.frontswapInit(type: 0)
        try cache.frontswapInit(type: 1)
        let fs = try cache.cleancacheInitFilesystem()
        let pages = StressPages()
        let failures = LockedValue<[String]>([])
        let finished = Flag()
        let start = Date()

        // Workers 0..<workers, then one evictor.
        onThreads(workers + 1) { thread in
            if thread == workers {
                Self.evict(cache, until: finished)
                return
            }
            var worker = Worker(
                thread: thread, cache: cache, fs: fs, pages: pages, exclusiveGets: exclusiveGets)
            do {
                for _ in 0..<operations {
                    if let failure = try worker.step() {
                        failures.withLock { $0.append(failure) }
                        break
                    }
                }
                if let failure = try worker.checkAll() { failures.withLock { $0.append(failure) } }
            } catch {
                failures.withLock { $0.append("thread \(thread): \(error)") }
            }
            if finished.workersDone.add(1, ordering: .sequentiallyConsistent).newValue == workers {
                finished.value.store(true, ordering: .sequentiallyConsistent)
            }
        }
        for failure in failures.withLock({ $0 }) { XCTFail(failure) }

        let stats = cache.statistics
        print(
            "stress: \(workers) workers x \(operations) ops in"
                + " \(String(format: "%.1f", Date().timeIntervalSince(start))) s"
                + " (\(allocator), exclusive \(exclusiveGets));"
                + " eph_ate_tail \(stats.zcache.ephAteTail), pers_ate_eph \(stats.zcache.persAteEph),"
                + " evicted_eph_pageframes \(stats.zcache.evictedEphPageframes),"
                + " eph hits \(stats.zcache.ephGetHits)/\(stats.zcache.ephGets),"
                + " pers hits \(stats.zcache.persGetHits)/\(stats.zcache.persGets)")
        XCTAssertTrue(cache.checkFrameAccounting(), "\(stats.framePool)")
        cache.checkInvariants()
        XCTAssertEqual(stats.framePool.invalidFrees, 0)
        XCTAssertEqual(stats.zcache.ephZPages, stats.allocator.ephemeral.objects)
        XCTAssertEqual(stats.zcache.persZPages, stats.allocator.persistent.objects)
        XCTAssertEqual(stats.zcache.decompressErrors, 0)
        XCTAssertGreaterThan(stats.zcache.ephAteTail + stats.zcache.evictedEphZPages, 0)
        XCTAssertGreaterThan(stats.zcache.persGetHits, 0)

        try cache.frontswapInvalidateArea(type: 0)
        try cache.frontswapInvalidateArea(type: 1)
        try cache.cleancacheInvalidateFilesystem(fs)
        let end = cache.statistics
        XCTAssertEqual(end.framePool.framesInUse, 0)
        XCTAssertEqual(end.zcache.zeroFilledPages, 0)
        XCTAssertEqual(end.zcache.ephZPages + end.zcache.persZPages, 0)
        XCTAssertEqual(end.zcache.ephZBytes + end.zcache.persZBytes, 0)
        XCTAssertEqual(end.framePool.allocatedTotal, end.framePool.freedTotal)
        XCTAssertTrue(cache.checkFrameAccounting())
    }

    /// Evicts ephemeral frames while the workers flush and get them; now and
    /// then freezes the cache for a moment and reads the statistics.
    private static func evict(_ cache: ZCache, until finished: Flag) {
        var rng = SeededGenerator(seed: 77)
        while !finished.value.load(ordering: .sequentiallyConsistent) {
            cache.evictEphemeralPageframes(Int.random(in: 1...3, using: &rng))
            switch Int.random(in: 0..<100, using: &rng) {
            case 0:
                cache.freeze()
                sched_yield()
                cache.unfreeze()
            case 1..<5:
                _ = cache.statistics
                _ = cache.checkFrameAccounting()
            default:
                sched_yield()
            }
        }
    }
}

private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
    let workersDone = Atomic<Int>(0)
}

/// Page patterns; a page is a pattern with (key, version, pattern) stamped
/// in, so a page found at a key can be rebuilt from its own stamp and
/// compared (whole and untorn, and put at this key).
private struct StressPages: Sendable {
    let patterns: [[UInt8]] = [
        TestPages.zero().bytes, TestPages.structured(seed: 1).bytes, TestPages.text(seed: 2).bytes,
        CoreTestSupport.partRandom(900, seed: 3), CoreTestSupport.partRandom(2200, seed: 4),
        CoreTestSupport.partRandom(3800, seed: 5), TestPages.random(seed: 6).bytes,
    ]
    /// Per 100: zero, structured, text, 900, 2200, 3800 (refused when
    /// persistent), random (always refused).
    let weights = [8, 30, 20, 20, 12, 6, 4]

    static func stampOffset(_ key: UInt64) -> Int { 64 + Int(key % 48) * 64 }

    func build(
        pattern: Int, key: UInt64, version: UInt64, into buffer: UnsafeMutableRawBufferPointer
    ) {
        patterns[pattern].withUnsafeBytes { buffer.copyMemory(from: $0) }
        guard pattern != 0 else { return }
        let offset = Self.stampOffset(key)
        buffer.storeBytes(of: key, toByteOffset: offset, as: UInt64.self)
        buffer.storeBytes(of: version, toByteOffset: offset + 8, as: UInt64.self)
        buffer.storeBytes(of: UInt64(pattern), toByteOffset: offset + 16, as: UInt64.self)
    }

    /// Whether `page` is a page some thread built for `key`.
    func isValid(
        _ page: UnsafeRawBufferPointer, key: UInt64, scratch: UnsafeMutableRawBufferPointer
    )
        -> Bool
    {
        if page.allSatisfy({ $0 == 0 }) { return true }
        let offset = Self.stampOffset(key)
        let stampedKey = page.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        let version = page.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        let pattern = page.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
        guard stampedKey == key, (1..<UInt64(patterns.count)).contains(pattern) else {
            return false
        }
        build(pattern: Int(pattern), key: key, version: version, into: scratch)
        return memcmp(page.baseAddress!, scratch.baseAddress!, pageSize) == 0
    }
}

private struct Worker {
    static let ownOffsets = 10
    static let ownIndexes: UInt32 = 12
    static let sharedOffsets: UInt64 = 16
    static let sharedIndexes: UInt32 = 16
    static let sharedFile: UInt64 = 1000

    let thread: Int
    let cache: ZCache
    let fs: ZCache.FilesystemID
    let pages: StressPages
    let exclusiveGets: Bool
    var rng: SeededGenerator
    var version: UInt64 = 0
    /// Own swap offset -> (pattern, version) stored.
    var persistent: [UInt64: (Int, UInt64)] = [:]
    /// Own file index -> (pattern, version) put.
    var ephemeral: [UInt32: (Int, UInt64)] = [:]
    let page: UnsafeMutableRawBufferPointer
    let scratch: UnsafeMutableRawBufferPointer

    init(
        thread: Int, cache: ZCache, fs: ZCache.FilesystemID, pages: StressPages, exclusiveGets: Bool
    ) {
        self.thread = thread
        self.cache = cache
        self.fs = fs
        self.pages = pages
        self.exclusiveGets = exclusiveGets
        rng = SeededGenerator(seed: 1000 + UInt64(thread))
        page = .allocate(byteCount: pageSize, alignment: 16)
        scratch = .allocate(byteCount: pageSize, alignment: 16)
    }

    func ownOffset(_ n: Int) -> UInt64 { UInt64(thread) * 100_000 + UInt64(n) * 97 }
    var ownFile: UInt64 { UInt64(thread) }
    /// Keys for stamps: distinct across front ends, threads and shared keys.
    func persistentKey(type: Int, offset: UInt64) -> UInt64 { UInt64(type) << 60 | offset }
    func ephemeralKey(file: UInt64, index: UInt32) -> UInt64 {
        1 << 62 | file << 32 | UInt64(index)
    }

    mutating func nextPage(key: UInt64) -> (Int, UInt64) {
        version += 1
        var roll = Int.random(in: 0..<100, using: &rng)
        var pattern = 0
        for (n, weight) in pages.weights.enumerated() {
            if roll < weight {
                pattern = n
                break
            }
            roll -= weight
        }
        let stamp = version << 8 | UInt64(thread)
        pages.build(pattern: pattern, key: key, version: stamp, into: page)
        return (pattern, stamp)
    }

    func matches(_ entry: (Int, UInt64), key: UInt64) -> Bool {
        pages.build(pattern: entry.0, key: key, version: entry.1, into: scratch)
        return memcmp(page.baseAddress!, scratch.baseAddress!, pageSize) == 0
    }

    /// One operation; a failure message, or nil.
    mutating func step() throws -> String? {
        let roll = Int.random(in: 0..<100, using: &rng)
        switch roll {
        case 0..<20:
            let offset = ownOffset(Int.random(in: 0..<Self.ownOffsets, using: &rng))
            let key = persistentKey(type: 0, offset: offset)
            let entry = nextPage(key: key)
            let result = try cache.frontswapStore(
                type: 0, offset: offset, page: UnsafeRawBufferPointer(page))
            persistent[offset] = result.isStored ? entry : nil
            if entry.0 >= 5 && result.isStored {
                return "thread \(thread): poor page \(entry) stored"
            }
        case 20..<35:
            let offset = ownOffset(Int.random(in: 0..<Self.ownOffsets, using: &rng))
            let key = persistentKey(type: 0, offset: offset)
            let hit = try cache.frontswapLoad(type: 0, offset: offset, into: page)
            if let entry = persistent[offset] {
                guard hit else {
                    return "thread \(thread): stored offset \(offset) \(entry) did not load"
                }
                guard matches(entry, key: key) else {
                    return "thread \(thread): offset \(offset) loaded wrong bytes"
                }
                if exclusiveGets { persistent[offset] = nil }
            } else if hit {
                return "thread \(thread): absent offset \(offset) loaded"
            }
        case 35..<40:
            let offset = ownOffset(Int.random(in: 0..<Self.ownOffsets, using: &rng))
            try cache.frontswapInvalidatePage(type: 0, offset: offset)
            persistent[offset] = nil
        case 40..<60:
            let index = UInt32.random(in: 0..<Self.ownIndexes, using: &rng)
            let entry = nextPage(key: ephemeralKey(file: ownFile, index: index))
            let stored = try cache.cleancachePut(
                fs, file: ObjectID(ownFile), index: index, page: UnsafeRawBufferPointer(page))
            ephemeral[index] = stored ? entry : nil
        case 60..<72:
            let index = UInt32.random(in: 0..<Self.ownIndexes, using: &rng)
            let hit = try cache.cleancacheGet(fs, file: ObjectID(ownFile), index: index, into: page)
            let entry = ephemeral.removeValue(forKey: index)
            if hit {
                guard let entry else { return "thread \(thread): absent index \(index) hit" }
                guard matches(entry, key: ephemeralKey(file: ownFile, index: index)) else {
                    return "thread \(thread): index \(index) got wrong bytes"
                }
            } else if let entry, entry.0 == 0 {
                return "thread \(thread): zero-filled index \(index) vanished"
            }
        case 72..<75:
            let index = UInt32.random(in: 0..<Self.ownIndexes, using: &rng)
            try cache.cleancacheInvalidatePage(fs, file: ObjectID(ownFile), index: index)
            ephemeral[index] = nil
        case 75..<76:
            try cache.cleancacheInvalidateInode(fs, file: ObjectID(ownFile))
            ephemeral = [:]
        default:
            return try churn()
        }
        return nil
    }

    /// An operation on the shared keys: any hit must be a whole page put at that key.
    mutating func churn() throws -> String? {
        let roll = Int.random(in: 0..<100, using: &rng)
        let offset = UInt64.random(in: 0..<Self.sharedOffsets, using: &rng)
        let index = UInt32.random(in: 0..<Self.sharedIndexes, using: &rng)
        let persistentKey = persistentKey(type: 1, offset: offset)
        let ephemeralKey = ephemeralKey(file: Self.sharedFile, index: index)
        do throws(ZCacheError) {
            switch roll {
            case 0..<30:
                _ = nextPage(key: persistentKey)
                _ = try cache.frontswapStore(
                    type: 1, offset: offset, page: UnsafeRawBufferPointer(page))
            case 30..<50:
                if try cache.frontswapLoad(type: 1, offset: offset, into: page),
                    !pages.isValid(
                        UnsafeRawBufferPointer(page), key: persistentKey, scratch: scratch)
                {
                    return "thread \(thread): shared offset \(offset) loaded a bad page"
                }
            case 50..<55:
                try cache.frontswapInvalidatePage(type: 1, offset: offset)
            case 55..<80:
                _ = nextPage(key: ephemeralKey)
                try cache.cleancachePut(
                    fs, file: ObjectID(Self.sharedFile), index: index,
                    page: UnsafeRawBufferPointer(page))
            case 80..<95:
                if try cache.cleancacheGet(
                    fs, file: ObjectID(Self.sharedFile), index: index, into: page),
                    !pages.isValid(
                        UnsafeRawBufferPointer(page), key: ephemeralKey, scratch: scratch)
                {
                    return "thread \(thread): shared index \(index) got a bad page"
                }
            case 95..<99:
                try cache.cleancacheInvalidatePage(
                    fs, file: ObjectID(Self.sharedFile), index: index)
            default:
                if Bool.random(using: &rng) {
                    try cache.cleancacheInvalidateInode(fs, file: ObjectID(Self.sharedFile))
                } else {
                    // Another thread may be between its invalidate and init.
                    try cache.frontswapInvalidateArea(type: 1)
                    try cache.frontswapInit(type: 1)
                }
            }
        } catch {
            // Another thread invalidated the area and has not initialised it yet.
            guard error == .swapTypeNotInitialised(1) else { throw error }
            try cache.frontswapInit(type: 1)
        }
        return nil
    }

    /// At the end: every own persistent page is still there, exactly.
    mutating func checkAll() throws -> String? {
        defer {
            page.deallocate()
            scratch.deallocate()
        }
        for (offset, entry) in persistent {
            guard try cache.frontswapLoad(type: 0, offset: offset, into: page) else {
                return "thread \(thread): offset \(offset) \(entry) lost by the end"
            }
            guard matches(entry, key: persistentKey(type: 0, offset: offset)) else {
                return "thread \(thread): offset \(offset) wrong at the end"
            }
        }
        return nil
    }
}
