// One test per TMem rule (DESIGN.md "TMem semantics", tmem.c's behaviour).

import Foundation
import XCTest

@testable import TMem

final class TMemRulesTests: XCTestCase {
    private func makeStore(exclusiveGets: Bool = true, configure: (inout TMem<CountingStorage>.Configuration) -> Void = { _ in })
        -> TMem<CountingStorage>
    {
        var configuration = TMem<CountingStorage>.Configuration()
        configuration.exclusiveGets = exclusiveGets
        configure(&configuration)
        return TMem(storage: CountingStorage(), configuration: configuration)
    }

    private func key(_ pool: PoolID, _ object: UInt64, _ index: UInt32) -> TMemKey {
        TMemKey(pool: pool, object: ObjectID(object), index: index)
    }

    func testEphemeralGetRemovesThePage() throws {
        let tmem = makeStore(exclusiveGets: false)
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .ephemeral)
        let handle = try tmem.putNew(key(pool, 1, 7))
        var sawRemoved: Bool?
        let got = try tmem.get(key(pool, 1, 7)) { h, removed in
            sawRemoved = removed
            tmem.storage.release(h)
            return h
        }
        XCTAssertEqual(got, handle)
        XCTAssertEqual(sawRemoved, true)
        XCTAssertNil(try tmem.getHandle(key(pool, 1, 7)))
        XCTAssertEqual(try tmem.handleCount(pool: pool), 0)
        XCTAssertEqual(tmem.storage.releases(of: handle), 1)
        tmem.checkInvariants()
    }

    func testPersistentGetRemovesWithExclusiveGets() throws {
        let tmem = makeStore(exclusiveGets: true)
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let handle = try tmem.putNew(key(pool, 1, 7))
        XCTAssertEqual(try tmem.getHandle(key(pool, 1, 7)), handle)
        XCTAssertNil(try tmem.getHandle(key(pool, 1, 7)))
        XCTAssertEqual(tmem.storage.releases(of: handle), 1)
        XCTAssertEqual(tmem.stats.objCount, 0)
    }

    func testPersistentGetKeepsWithoutExclusiveGets() throws {
        let tmem = makeStore(exclusiveGets: false)
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let handle = try tmem.putNew(key(pool, 1, 7))
        for _ in 0..<3 {
            var sawRemoved: Bool?
            let got = try tmem.get(key(pool, 1, 7)) { h, removed in
                sawRemoved = removed
                return h
            }
            XCTAssertEqual(got, handle)
            XCTAssertEqual(sawRemoved, false)
        }
        XCTAssertEqual(tmem.storage.releases(of: handle), 0)
        // Writeback's exclusive load removes it even here.
        XCTAssertEqual(try tmem.getHandle(key(pool, 1, 7), forceRemove: true), handle)
        XCTAssertNil(try tmem.getHandle(key(pool, 1, 7)))
        XCTAssertEqual(tmem.storage.releases(of: handle), 1)
    }

    func testDuplicatePutFreesTheOldHandleExactlyOnce() throws {
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let first = try tmem.putNew(key(pool, 3, 9))
        let second = try tmem.putNew(key(pool, 3, 9))
        XCTAssertEqual(tmem.storage.releases(of: first), 1)
        XCTAssertEqual(tmem.storage.freedKey(of: first), key(pool, 3, 9))
        XCTAssertEqual(tmem.storage.releases(of: second), 0)
        XCTAssertEqual(try tmem.handleCount(pool: pool), 1)
        XCTAssertEqual(tmem.stats.objCount, 1)
        // Putting the handle already stored frees nothing.
        try tmem.put(key(pool, 3, 9), handle: second)
        XCTAssertEqual(tmem.storage.releases(of: second), 0)
        XCTAssertEqual(try tmem.getHandle(key(pool, 3, 9)), second)
        XCTAssertEqual(tmem.storage.releases(of: first), 1)
        XCTAssertEqual(tmem.storage.releases(of: second), 1)
    }

    func testAFailedGetKeepsFailingUntilTheNextPut() throws {
        for exclusive in [true, false] {
            let tmem = makeStore(exclusiveGets: exclusive)
            let client = try tmem.newClient()
            for kind in PoolKind.allCases {
                let pool = try tmem.newPool(client: client, kind: kind)
                let k = key(pool, 5, 1)
                // A miss on a key never put.
                XCTAssertNil(try tmem.getHandle(k))
                // A read that fails, removing or not.
                let handle = try tmem.putNew(k)
                var readCalls = 0
                let failed: UInt64? = try tmem.get(k) { h, removed in
                    readCalls += 1
                    if removed { tmem.storage.release(h) }
                    return nil
                }
                XCTAssertNil(failed)
                XCTAssertEqual(readCalls, 1)
                XCTAssertEqual(tmem.storage.releases(of: handle), 1, "\(kind) exclusive \(exclusive)")
                for _ in 0..<3 {
                    XCTAssertNil(try tmem.getHandle(k))
                    XCTAssertNil(try tmem.getHandle(k, forceRemove: true))
                }
                XCTAssertFalse(try tmem.flushPage(k))
                let next = try tmem.putNew(k)
                XCTAssertEqual(try tmem.getHandle(k), next)
            }
            tmem.checkInvariants()
        }
    }

    func testConditionalGetActsOnlyOnTheGivenHandle() throws {
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let handle = try tmem.putNew(key(pool, 2, 2))
        var called = false
        let other: UInt64? = try tmem.get(key(pool, 2, 2), ifHandle: handle + 1000) { h, _ in
            called = true
            return h
        }
        XCTAssertNil(other)
        XCTAssertFalse(called)
        XCTAssertEqual(try tmem.handleCount(pool: pool), 1)
        XCTAssertEqual(try tmem.getHandle(key(pool, 2, 2), ifHandle: handle), handle)
        XCTAssertEqual(try tmem.handleCount(pool: pool), 0)
    }

    func testFlushPageFreesAndCounts() throws {
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .ephemeral)
        let handle = try tmem.putNew(key(pool, 1, 1))
        XCTAssertFalse(try tmem.flushPage(key(pool, 1, 1), ifHandle: handle + 1))
        XCTAssertEqual(tmem.storage.releases(of: handle), 0)
        XCTAssertTrue(try tmem.flushPage(key(pool, 1, 1), ifHandle: handle))
        XCTAssertEqual(tmem.storage.releases(of: handle), 1)
        XCTAssertEqual(tmem.storage.freedKey(of: handle), key(pool, 1, 1))
        XCTAssertFalse(try tmem.flushPage(key(pool, 1, 1)))
        XCTAssertNil(try tmem.getHandle(key(pool, 1, 1)))
        let stats = tmem.stats
        XCTAssertEqual(stats.flushTotal, 3)
        XCTAssertEqual(stats.flushFound, 1)
        XCTAssertEqual(stats.objCount, 0)
    }

    func testFlushObjectFreesEveryPageOfThatObjectOnly() throws {
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .ephemeral)
        let inObject = try (0..<100).map { i throws(TMemError) in try tmem.putNew(key(pool, 42, UInt32(i * 37))) }
        let elsewhere = try tmem.putNew(key(pool, 43, 0))
        XCTAssertEqual(tmem.stats.objCount, 2)
        XCTAssertEqual(try tmem.flushObject(pool: pool, object: ObjectID(42)), 100)
        for (i, handle) in inObject.enumerated() {
            XCTAssertEqual(tmem.storage.releases(of: handle), 1)
            XCTAssertEqual(tmem.storage.freedKey(of: handle), key(pool, 42, UInt32(i * 37)))
        }
        XCTAssertEqual(tmem.storage.releases(of: elsewhere), 0)
        XCTAssertEqual(try tmem.flushObject(pool: pool, object: ObjectID(42)), 0)
        XCTAssertNil(try tmem.getHandle(key(pool, 42, 37)))
        let stats = tmem.stats
        XCTAssertEqual(stats.flobjTotal, 2)
        XCTAssertEqual(stats.flobjFound, 1)
        XCTAssertEqual(stats.objCount, 1)
        XCTAssertEqual(stats.objCountMax, 2)
        XCTAssertEqual(stats.pagesStored, 1)
    }

    func testDestroyPoolReleasesEveryHandleExactlyOnce() throws {
        let tmem = makeStore()
        let client = try tmem.newClient()
        let pool = try tmem.newPool(client: client, kind: .persistent)
        let keep = try tmem.newPool(client: client, kind: .persistent)
        var handles: [UInt64] = []
        for object in 0..<300 {
            for index in stride(from: 0, to: 40, by: 3) {
                handles.append(try tmem.putNew(key(pool, UInt64(object), UInt32(index))))
            }
        }
        let kept = try tmem.putNew(key(keep, 1, 1))
        try tmem.destroyPool(pool)
        XCTAssertEqual(Set(tmem.storage.allReleases.keys), Set(handles))
        XCTAssertTrue(tmem.storage.allReleases.values.allSatisfy { $0 == 1 })
        XCTAssertEqual(tmem.storage.releases(of: kept), 0)
        XCTAssertEqual(tmem.stats.objCount, 1)
        XCTAssertThrowsError(try tmem.putNew(key(pool, 1, 1))) {
            XCTAssertEqual($0 as? TMemError, .unknownPool(pool))
        }
        XCTAssertThrowsError(try tmem.destroyPool(pool)) {
            XCTAssertEqual($0 as? TMemError, .unknownPool(pool))
        }
        // The slot is reused, empty.
        let again = try tmem.newPool(client: client, kind: .ephemeral)
        XCTAssertEqual(again, pool)
        XCTAssertEqual(try tmem.poolKind(again), .ephemeral)
        XCTAssertEqual(try tmem.handleCount(pool: again), 0)
        XCTAssertNil(try tmem.getHandle(key(again, 0, 0)))
        tmem.checkInvariants()
    }

    func testDestroyClientDestroysItsPools() throws {
        let tmem = makeStore()
        let client = try tmem.newClient()
        let other = try tmem.newClient()
        let pools = try [PoolKind.ephemeral, .persistent].map { kind throws(TMemError) in
            try tmem.newPool(client: client, kind: kind)
        }
        let otherPool = try tmem.newPool(client: other, kind: .ephemeral)
        let handles = try pools.map { pool throws(TMemError) in try tmem.putNew(key(pool, 9, 9)) }
        let otherHandle = try tmem.putNew(key(otherPool, 9, 9))
        try tmem.destroyClient(client)
        for handle in handles { XCTAssertEqual(tmem.storage.releases(of: handle), 1) }
        XCTAssertEqual(tmem.storage.releases(of: otherHandle), 0)
        XCTAssertThrowsError(try tmem.putNew(key(pools[0], 1, 1))) {
            XCTAssertEqual($0 as? TMemError, .unknownClient(client))
        }
        XCTAssertThrowsError(try tmem.newPool(client: client, kind: .ephemeral)) {
            XCTAssertEqual($0 as? TMemError, .unknownClient(client))
        }
        XCTAssertThrowsError(try tmem.destroyClient(client)) {
            XCTAssertEqual($0 as? TMemError, .unknownClient(client))
        }
        XCTAssertEqual(try tmem.newClient(), client)
    }

    func testClientAndPoolLimits() throws {
        let tmem = makeStore { $0.maxClients = 3; $0.maxPoolsPerClient = 2 }
        let clients = try (0..<3).map { _ throws(TMemError) in try tmem.newClient() }
        XCTAssertEqual(Set(clients).count, 3)
        XCTAssertThrowsError(try tmem.newClient()) { XCTAssertEqual($0 as? TMemError, .tooManyClients) }
        _ = try tmem.newPool(client: clients[1], kind: .ephemeral)
        let second = try tmem.newPool(client: clients[1], kind: .persistent)
        XCTAssertThrowsError(try tmem.newPool(client: clients[1], kind: .ephemeral)) {
            XCTAssertEqual($0 as? TMemError, .tooManyPools(clients[1]))
        }
        // Other clients have their own pool slots.
        XCTAssertNoThrow(try tmem.newPool(client: clients[2], kind: .ephemeral))
        try tmem.destroyPool(second)
        XCTAssertEqual(try tmem.newPool(client: clients[1], kind: .ephemeral), second)
        try tmem.destroyClient(clients[0])
        XCTAssertEqual(try tmem.newClient(), clients[0])
    }

    func testDefaultLimitsAreTheKernels() throws {
        let tmem = makeStore()
        XCTAssertEqual(tmem.configuration.maxClients, 16)
        XCTAssertEqual(tmem.configuration.maxPoolsPerClient, 16)
        XCTAssertEqual(tmem.configuration.bucketCount, 256)
        for _ in 0..<16 { _ = try tmem.newClient() }
        XCTAssertThrowsError(try tmem.newClient())
        let client = ClientID(rawValue: 0)
        for _ in 0..<16 { _ = try tmem.newPool(client: client, kind: .ephemeral) }
        XCTAssertThrowsError(try tmem.newPool(client: client, kind: .ephemeral))
    }

    func testUnknownIdsAreTypedErrorsOnEveryOperation() throws {
        let tmem = makeStore()
        let client = try tmem.newClient()
        let neverClient = ClientID(rawValue: 5)
        let outOfRangeClient = ClientID(rawValue: 999)
        let neverPool = PoolID(client: client, index: 3)
        let outOfRangePool = PoolID(client: client, index: 900)
        let cases: [(PoolID, TMemError)] = [
            (neverPool, .unknownPool(neverPool)),
            (outOfRangePool, .unknownPool(outOfRangePool)),
            (PoolID(client: neverClient, index: 0), .unknownClient(neverClient)),
            (PoolID(client: outOfRangeClient, index: 0), .unknownClient(outOfRangeClient)),
        ]
        for (pool, expected) in cases {
            let k = key(pool, 1, 1)
            let handle = tmem.storage.makeHandle()
            XCTAssertThrowsError(try tmem.put(k, handle: handle)) { XCTAssertEqual($0 as? TMemError, expected) }
            XCTAssertThrowsError(try tmem.getHandle(k)) { XCTAssertEqual($0 as? TMemError, expected) }
            XCTAssertThrowsError(try tmem.flushPage(k)) { XCTAssertEqual($0 as? TMemError, expected) }
            XCTAssertThrowsError(try tmem.flushObject(pool: pool, object: ObjectID(1))) {
                XCTAssertEqual($0 as? TMemError, expected)
            }
            XCTAssertThrowsError(try tmem.destroyPool(pool)) { XCTAssertEqual($0 as? TMemError, expected) }
            XCTAssertThrowsError(try tmem.poolKind(pool)) { XCTAssertEqual($0 as? TMemError, expected) }
            XCTAssertThrowsError(try tmem.handleCount(pool: pool)) { XCTAssertEqual($0 as? TMemError, expected) }
            // A refused put took nothing.
            XCTAssertEqual(tmem.storage.releases(of: handle), 0)
        }
        XCTAssertThrowsError(try tmem.newPool(client: neverClient, kind: .ephemeral)) {
            XCTAssertEqual($0 as? TMemError, .unknownClient(neverClient))
        }
        XCTAssertThrowsError(try tmem.destroyClient(outOfRangeClient)) {
            XCTAssertEqual($0 as? TMemError, .unknownClient(outOfRangeClient))
        }
    }

    func testSwizzledSwapKeysRoundTrip() throws {
        // Frontswap's swizzle: oid.a = (type << 8) | (offset & 0xff), index = offset >> 8.
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        var generator = SystemRandomNumberGenerator()
        var stored: [UInt64: (TMemKey, UInt64)] = [:]
        for _ in 0..<2000 {
            let type = UInt64.random(in: 0..<4, using: &generator)
            let offset = UInt64.random(in: 0..<(1 << 24), using: &generator)
            let k = TMemKey(pool: pool, object: ObjectID((type << 8) | (offset & 0xff)), index: UInt32(offset >> 8))
            stored[(type << 32) | offset] = (k, try tmem.putNew(k))
        }
        XCTAssertLessThanOrEqual(tmem.stats.objCount, 4 * 256)
        XCTAssertEqual(tmem.stats.pagesStored, stored.count)
        tmem.checkInvariants()
        for (_, (k, handle)) in stored { XCTAssertEqual(try tmem.getHandle(k), handle) }
        XCTAssertEqual(tmem.stats.objCount, 0)
        XCTAssertEqual(tmem.stats.pagesStored, 0)
    }

    func testObjectIdsDifferingInAnyWordAreDistinct() throws {
        let tmem = makeStore()
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let ids = [ObjectID(1, 2, 3), ObjectID(1, 3, 2), ObjectID(2, 1, 3), ObjectID(1, 2, 4), ObjectID(1, 2, 3 | 1 << 63)]
        let handles = try ids.map { id throws(TMemError) in try tmem.putNew(TMemKey(pool: pool, object: id, index: 0)) }
        XCTAssertEqual(tmem.stats.objCount, ids.count)
        for (id, handle) in zip(ids, handles) {
            XCTAssertEqual(try tmem.getHandle(TMemKey(pool: pool, object: id, index: 0)), handle)
        }
    }

    func testStatsEncodeWithTheKernelsNames() throws {
        let json = try JSONEncoder().encode(TMemStats(objCount: 1, flushTotal: 2))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Int])
        XCTAssertEqual(
            Set(object.keys),
            ["obj_count", "obj_count_max", "flush_total", "flush_found", "flobj_total", "flobj_found", "pages_stored"])
        XCTAssertEqual(object["flush_total"], 2)
        XCTAssertEqual(try JSONDecoder().decode(TMemStats.self, from: json), TMemStats(objCount: 1, flushTotal: 2))
    }

    func testDeinitReleasesWhatIsStillStored() throws {
        let storage = CountingStorage()
        var handles: [UInt64] = []
        do {
            let tmem = TMem(storage: storage)
            let pool = try tmem.newPool(client: tmem.newClient(), kind: .ephemeral)
            for i in 0..<50 { handles.append(try tmem.putNew(key(pool, UInt64(i % 7), UInt32(i)))) }
        }
        XCTAssertEqual(storage.allReleases, Dictionary(uniqueKeysWithValues: handles.map { ($0, 1) }))
    }

    func testBucketCountIsRoundedToAPowerOfTwo() throws {
        for (asked, used) in [(0, 1), (1, 1), (3, 4), (256, 256), (300, 512), (1 << 20, 65536)] {
            let tmem = makeStore { $0.bucketCount = asked }
            XCTAssertEqual(tmem.configuration.bucketCount, used)
            let pool = try tmem.newPool(client: tmem.newClient(), kind: .ephemeral)
            let handle = try tmem.putNew(key(pool, 77, 3))
            XCTAssertEqual(try tmem.getHandle(key(pool, 77, 3)), handle)
        }
    }
}
