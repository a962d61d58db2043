// The remote model run's shape without a Redis cluster: a small zsmalloc pool,
// writeback to an in-memory remote store with the swap file behind it, and
// threads swapping out, in and free at random, each swap-in checked against
// the page its entry was given. One page in five does not compress, so
// zcache refuses it and it goes through the swap cache to the device
// asynchronously; one store batch in eight is refused, so the swap file's
// writeback runs too. A swap-in racing the writeback's isolation of its
// entry lost its page here (and read the slot's stale bytes from the device)
// or found it damaged, 5 times in 1,500 rounds of a debug build, until
// `ZPageStore.copyOut` read an isolated object before letting go of it. ZCACHE_REMOTE_STRESS_ROUNDS, _THREADS and
// _FRAMES override the rounds (6; 2 under a sanitizer), threads (3) and
// pageframes (24).

import Foundation
import SwapDevice
import Synchronization
import XCTest
import ZCacheSupport

@testable import ZCache

/// A `RemotePageStore` in memory that refuses every `refuseEvery`th store batch.
final class MemoryPageStore: RemotePageStore {
    private let pages = LockedValue<[RemotePageKey: RemotePage]>([:])
    private let storeCalls = Atomic<Int>(0)
    let refuseEvery: Int

    struct Refused: Error {}

    init(refuseEvery: Int) { self.refuseEvery = refuseEvery }

    var count: Int { pages.withLock { $0.count } }

    func storePages(_ batch: [(key: RemotePageKey, page: RemotePage)]) -> [Result<Void, any Error>]
    {
        let call = storeCalls.wrappingAdd(1, ordering: .relaxed).newValue
        if refuseEvery > 0 && call % refuseEvery == 0 {
            return batch.map { _ in .failure(Refused()) }
        }
        pages.withLock { stored in
            for (key, page) in batch { stored[key] = page }
        }
        return batch.map { _ in .success(()) }
    }

    func loadPages(_ keys: [RemotePageKey]) -> [Result<RemotePage?, any Error>] {
        pages.withLock { stored in keys.map { .success(stored[$0]) } }
    }

    func deletePages(_ keys: [RemotePageKey]) -> [Result<Bool, any Error>] {
        pages.withLock { stored in keys.map { .success(stored.removeValue(forKey: $0) != nil) } }
    }
}

/// One thread's swap entries and the stamp of the page each must hold.
private final class RemoteStressWorker: @unchecked Sendable {
    let index: Int
    let cache: ZCache
    let type: Int
    let filesystem: ZCache.FilesystemID
    var rng: SplitMix64
    var nextStamp: UInt64
    var live: [(entry: SwapEntry, stamp: UInt64)] = []
    var wrong: [String] = []
    var errors: [String] = []
    var sources: [ZCache.SwapInSource: Int] = [:]

    init(index: Int, cache: ZCache, type: Int, seed: UInt64) throws {
        self.index = index
        self.cache = cache
        self.type = type
        filesystem = try cache.cleancacheInitFilesystem()
        rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        nextStamp = UInt64(index + 1) << 40
    }

    /// The pages: runs of bytes (compressible), or noise for one stamp in
    /// five (zcache refuses it).
    static let pages = StampedPages(incompressibleWhen: { $0 % 5 == 0 })

    static func page(_ stamp: UInt64) -> [UInt8] { pages.page(stamp) }

    static func describe(_ bytes: [UInt8]) -> String { pages.describe(bytes) }

    func run(steps: Int, maxLive: Int, writebackEvery: Int) {
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for step in 0..<steps {
            if step % writebackEvery == writebackEvery - 1 { cache.writeback(pageframes: 8) }
            let roll = rng.next() % 100
            if roll < 45 && live.count < maxLive || live.isEmpty {
                nextStamp += 1
                let page = Self.page(nextStamp)
                do {
                    let entry = try page.withUnsafeBytes { try cache.swapOut(page: $0, type: type) }
                    live.append((entry, nextStamp))
                } catch {
                    errors.append("swap-out: \(error)")
                }
            } else if roll < 80 {
                let i = Int(rng.next() % UInt64(live.count))
                if swapIn(at: i, &buffer) { live.swapAt(i, live.count - 1); live.removeLast() }
            } else if roll < 90 {
                let i = Int(rng.next() % UInt64(live.count))
                cache.swapFree(live[i].entry)
                live.swapAt(i, live.count - 1)
                live.removeLast()
            } else {
                cleancachePut()
            }
        }
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: pageSize)
        live = live.indices.compactMap { i in swapIn(at: i, &buffer) ? nil : live[i] }
    }

    private func swapIn(at i: Int, _ buffer: inout [UInt8]) -> Bool {
        let (entry, stamp) = live[i]
        do {
            let source = try buffer.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
            sources[source, default: 0] += 1
            if buffer != Self.page(stamp) {
                wrong.append(
                    "\(entry) (page \(stamp)) from \(source) holds \(Self.describe(buffer))")
            }
            return true
        } catch {
            errors.append("swap-in of \(entry): \(error)")
            return false
        }
    }

    /// Ephemeral pages fill the pool too, so persistent puts evict them.
    private func cleancachePut() {
        nextStamp += 1
        let index = UInt32(rng.next() % 64)
        _ = Self.page(nextStamp).withUnsafeBytes {
            try? cache.cleancachePut(filesystem, file: ObjectID(1), index: index, page: $0)
        }
    }
}

final class RemoteSwapPathStressTests: XCTestCase {
    func testRemoteWritebackWithSwapFileBehindNeverReturnsAWrongPage() throws {
        let environment = ProcessInfo.processInfo.environment
        let rounds =
            environment["ZCACHE_REMOTE_STRESS_ROUNDS"].flatMap { Int($0) }
            ?? (runningUnderSanitizer() ? 2 : 6)
        let threads = environment["ZCACHE_REMOTE_STRESS_THREADS"].flatMap { Int($0) } ?? 3
        let frames = environment["ZCACHE_REMOTE_STRESS_FRAMES"].flatMap { Int($0) } ?? 24
        var totals: [ZCache.SwapInSource: Int] = [:]
        for round in 0..<rounds {
            var configuration = ZCacheConfiguration()
            configuration.pageframes = frames
            configuration.allocator = .zsmalloc
            configuration.ignoreNonActivePersistentPuts = false
            configuration.ignoreNonActiveEphemeralPuts = false
            let store = MemoryPageStore(refuseEvery: 8)
            let cache = ZCache(
                configuration: configuration,
                remote: RemoteWriteback(store: store, swapFileBehind: true, batchPages: 32))
            let device = try SwapDevice.createTemporary(in: NSTemporaryDirectory(), pages: 4096)
            defer { device.close() }
            try cache.attachSwapDevice(device)
            let workers = try (0..<threads).map {
                try RemoteStressWorker(
                    index: $0, cache: cache, type: device.type, seed: UInt64(round) &+ 7)
            }
            DispatchQueue.concurrentPerform(iterations: workers.count) {
                workers[$0].run(steps: 1500, maxLive: 200, writebackEvery: 8)
            }
            for worker in workers { worker.drain() }
            cache.waitForWriteback()
            cache.flushRemoteDeletes()
            for worker in workers {
                totals.merge(worker.sources, uniquingKeysWith: +)
                XCTAssertEqual(worker.wrong, [], "round \(round), worker \(worker.index)")
                XCTAssertEqual(worker.errors, [], "round \(round), worker \(worker.index)")
                XCTAssertEqual(worker.live.count, 0, "round \(round), worker \(worker.index)")
            }
            XCTAssertEqual(device.slots.usedSlots, 0, "round \(round)")
            XCTAssertEqual(device.swapCache.count, 0, "round \(round)")
            XCTAssertEqual(store.count, 0, "round \(round): a page read back or freed left its key")
            XCTAssertEqual(cache.statistics.remote.remotePages, 0, "round \(round)")
            XCTAssertTrue(cache.checkFrameAccounting(), "round \(round)")
        }
        print("RemoteSwapPathStressTests: swap-ins by source \(totals)")
        for source in [ZCache.SwapInSource.zcache, .remote, .device] {
            XCTAssertGreaterThan(totals[source] ?? 0, 0, "no swap-in came from \(source)")
        }
    }
}
