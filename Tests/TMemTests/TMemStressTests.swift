// Several threads on overlapping keys, and a pool destroyed under its users.
// Run under the thread sanitizer by CI (`swift test --sanitize=thread --filter Stress`).

import Foundation
import XCTest
import ZCacheSupport

@testable import TMem

final class TMemStressTests: XCTestCase {
    /// Runs `body(thread)` on `count` threads at once and waits for all of them.
    private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for thread in 0..<count {
            group.enter()
            let worker = Thread {
                body(thread)
                group.leave()
            }
            worker.start()
        }
        group.wait()
    }

    /// Four threads put, get, flush pages and flush objects on keys they share,
    /// and on keys only they touch (checked exactly against a private model).
    /// Afterwards every stored handle is released exactly once.
    func testFourThreadsOnOverlappingKeys() throws {
        var configuration = TMem<CountingStorage>.Configuration()
        configuration.exclusiveGets = false
        configuration.bucketCount = 8  // crowd the buckets
        let storage = CountingStorage()
        let stored = LockedValue<[UInt64]>([])
        do {
            let tmem = TMem(storage: storage, configuration: configuration)
            let client = try tmem.newClient()
            let pools = [try tmem.newPool(client: client, kind: .ephemeral), try tmem.newPool(client: client, kind: .persistent)]
            onThreads(4) { thread in
                var rng = SplitMix64(seed: UInt64(thread) + 100)
                var mine: [UInt64] = []
                var privateModel: [TMemKey: UInt64] = [:]
                for step in 0..<25_000 {
                    let pool = pools[Int.random(in: 0..<2, using: &rng)]
                    let isPrivate = step % 4 == 0
                    let object = isPrivate ? ObjectID(1000 + UInt64(thread)) : ObjectID(UInt64.random(in: 0..<6, using: &rng))
                    let key = TMemKey(pool: pool, object: object, index: UInt32.random(in: 0..<40, using: &rng))
                    let roll = Int.random(in: 0..<100, using: &rng)
                    do {
                        switch roll {
                        case 0..<45:
                            let handle = tmem.storage.makeHandle()
                            try tmem.put(key, handle: handle)
                            mine.append(handle)
                            if isPrivate { privateModel[key] = handle }
                        case 45..<80:
                            let readFails = roll < 50
                            let got: UInt64? = try tmem.get(key) { handle, removed in
                                if removed { tmem.storage.release(handle) }
                                return readFails ? nil : handle
                            }
                            if isPrivate {
                                XCTAssertEqual(got, readFails ? nil : privateModel[key])
                                if readFails || pool == pools[0] { privateModel[key] = nil }
                            }
                        case 80..<97:
                            let found = try tmem.flushPage(key)
                            if isPrivate { XCTAssertEqual(found, privateModel.removeValue(forKey: key) != nil) }
                        default:
                            let flushed = try tmem.flushObject(pool: pool, object: object)
                            if isPrivate {
                                let keys = privateModel.keys.filter { $0.pool == pool }
                                XCTAssertEqual(flushed, keys.count)
                                for key in keys { privateModel[key] = nil }
                            }
                        }
                    } catch {
                        XCTFail("unexpected \(error)")
                    }
                }
                stored.withLock { $0 += mine }
            }
            let left = tmem.checkInvariants()
            let released = storage.allReleases
            XCTAssertTrue(released.values.allSatisfy { $0 == 1 }, "a handle released twice")
            XCTAssertTrue(Set(left.values).isDisjoint(with: released.keys), "a stored handle was released")
            XCTAssertEqual(released.count + left.count, stored.withLock { $0.count })
            // (The worker threads may still hold `tmem` for a moment: destroy
            // explicitly rather than count on deinit.)
            try tmem.destroyClient(client)
        }
        checkEachReleasedOnce(storage, stored: stored.withLock { $0 })
    }

    private func checkEachReleasedOnce(_ storage: CountingStorage, stored: [UInt64], file: StaticString = #filePath, line: UInt = #line) {
        let released = storage.allReleases
        let storedSet = Set(stored)
        XCTAssertEqual(storedSet.count, stored.count, "a handle stored twice", file: file, line: line)
        XCTAssertEqual(storedSet.subtracting(released.keys).count, 0, "stored, never released", file: file, line: line)
        XCTAssertEqual(Set(released.keys).subtracting(storedSet).count, 0, "released, never stored", file: file, line: line)
        XCTAssertEqual(released.values.filter { $0 != 1 }.count, 0, "released twice", file: file, line: line)
    }

    /// Three threads use a pool while the main thread destroys and re-creates it.
    /// Nothing crashes, refused calls say `unknownPool`, and every handle a put
    /// stored is released exactly once.
    func testDestroyingAPoolWhileOthersUseIt() throws {
        let storage = CountingStorage()
        let stored = LockedValue<[UInt64]>([])
        let refused = LockedValue(0)
        do {
            let tmem = TMem(storage: storage)
            let client = try tmem.newClient()
            let pool = try tmem.newPool(client: client, kind: .persistent)
            let running = LockedValue(true)
            let group = DispatchGroup()
            for thread in 0..<3 {
                group.enter()
                Thread {
                    var rng = SplitMix64(seed: UInt64(thread) + 7)
                    var mine: [UInt64] = []
                    var myRefusals = 0
                    while running.withLock({ $0 }) {
                        let key = TMemKey(
                            pool: pool, object: ObjectID(UInt64.random(in: 0..<64, using: &rng)),
                            index: UInt32.random(in: 0..<256, using: &rng))
                        do {
                            switch Int.random(in: 0..<10, using: &rng) {
                            case 0..<6:
                                let handle = tmem.storage.makeHandle()
                                try tmem.put(key, handle: handle)
                                mine.append(handle)
                            case 6..<8:
                                _ = try tmem.get(key) { handle, removed -> UInt64? in
                                    if removed { tmem.storage.release(handle) }
                                    return handle
                                }
                            case 8:
                                try tmem.flushPage(key)
                            default:
                                try tmem.flushObject(pool: pool, object: key.object)
                            }
                        } catch {
                            XCTAssertEqual(error as? TMemError, .unknownPool(pool))
                            myRefusals += 1
                        }
                    }
                    stored.withLock { $0 += mine }
                    refused.withLock { $0 += myRefusals }
                    group.leave()
                }.start()
            }
            for _ in 0..<40 {
                usleep(2_000)
                try tmem.destroyPool(pool)
                usleep(200)
                XCTAssertEqual(try tmem.newPool(client: client, kind: .persistent), pool)
            }
            running.withLock { $0 = false }
            group.wait()
            tmem.checkInvariants()
            try tmem.destroyClient(client)
        }
        checkEachReleasedOnce(storage, stored: stored.withLock { $0 })
        XCTAssertGreaterThan(stored.withLock { $0.count }, 0)
    }
}
