// TMem against a dictionary model: random operations, each one's result and the
// handles it released compared with what the rules say.

import XCTest
import ZCacheSupport

@testable import TMem

final class TMemModelTests: XCTestCase {
    func testRandomOperationsWithExclusiveGets() throws {
        try runModel(operations: 200_000, exclusiveGets: true, seed: 1)
    }

    func testRandomOperationsWithoutExclusiveGets() throws {
        try runModel(operations: 100_000, exclusiveGets: false, seed: 2)
    }

    /// The model: which pools are live (and their kind) and what each key holds.
    private struct Model {
        var clients: Set<ClientID> = []
        var pools: [PoolID: PoolKind] = [:]
        var pages: [TMemKey: UInt64] = [:]
        var everStored: Set<UInt64> = []

        func error(for pool: PoolID) -> TMemError? {
            if !clients.contains(pool.client) { return .unknownClient(pool.client) }
            return pools[pool] == nil ? .unknownPool(pool) : nil
        }

        mutating func removePool(_ pool: PoolID) -> [UInt64] {
            pools[pool] = nil
            let keys = pages.keys.filter { $0.pool == pool }
            return keys.compactMap { pages.removeValue(forKey: $0) }
        }
    }

    private func runModel(operations: Int, exclusiveGets: Bool, seed: UInt64) throws {
        var configuration = TMem<CountingStorage>.Configuration()
        configuration.exclusiveGets = exclusiveGets
        configuration.maxClients = 3
        configuration.maxPoolsPerClient = 3
        configuration.bucketCount = 16
        let storage = CountingStorage()
        var model = Model()
        do {
            let store = TMem(storage: storage, configuration: configuration)
            var rng = SplitMix64(seed: seed)

            // Object ids: a few files, and swizzled swap objects of two types.
            func randomObject() -> ObjectID {
                if Bool.random(using: &rng) {
                    return ObjectID(UInt64.random(in: 0..<6, using: &rng), 17)
                }
                let type = UInt64.random(in: 0..<2, using: &rng)
                let offset = UInt64.random(in: 0..<4096, using: &rng)
                return ObjectID((type << 8) | (offset & 0x3))
            }
            func randomIndex() -> UInt32 {
                Bool.random(using: &rng)
                    ? UInt32.random(in: 0..<48, using: &rng)
                    : UInt32.random(in: 0..<8, using: &rng) << 20
            }
            func randomPool() -> PoolID {
                // Mostly pools that exist, sometimes anything in (or just out of) range.
                if !model.pools.isEmpty && UInt8.random(in: 0..<10, using: &rng) != 0 {
                    return model.pools.keys.sorted {
                        ($0.client.rawValue, $0.index) < ($1.client.rawValue, $1.index)
                    }
                    .randomElement(using: &rng)!
                }
                return PoolID(
                    client: ClientID(rawValue: UInt16.random(in: 0..<4, using: &rng)),
                    index: UInt16.random(in: 0..<4, using: &rng))
            }
            func expectError(
                _ expected: TMemError?, _ body: () throws(TMemError) -> Void, _ step: Int
            ) {
                do {
                    try body()
                    XCTAssertNil(expected, "step \(step): expected \(String(describing: expected))")
                } catch {
                    XCTAssertEqual(error, expected, "step \(step)")
                }
            }

            for step in 0..<operations {
                var expectedReleases: [UInt64] = []
                let roll = Int.random(in: 0..<1000, using: &rng)
                switch roll {
                case 0..<3:  // new client
                    let expected: TMemError? = model.clients.count == 3 ? .tooManyClients : nil
                    expectError(
                        expected,
                        { () throws(TMemError) in model.clients.insert(try store.newClient()) },
                        step)
                case 3..<5:  // destroy client
                    let client = ClientID(rawValue: UInt16.random(in: 0..<4, using: &rng))
                    let expected: TMemError? =
                        model.clients.contains(client) ? nil : .unknownClient(client)
                    expectError(
                        expected, { () throws(TMemError) in try store.destroyClient(client) }, step)
                    if expected == nil {
                        model.clients.remove(client)
                        for pool in model.pools.keys where pool.client == client {
                            expectedReleases += model.removePool(pool)
                        }
                    }
                case 5..<20:  // new pool
                    let client = ClientID(rawValue: UInt16.random(in: 0..<4, using: &rng))
                    let kind: PoolKind = Bool.random(using: &rng) ? .ephemeral : .persistent
                    var expected: TMemError? = nil
                    if !model.clients.contains(client) {
                        expected = .unknownClient(client)
                    } else if model.pools.keys.filter({ $0.client == client }).count == 3 {
                        expected = .tooManyPools(client)
                    }
                    expectError(
                        expected,
                        { () throws(TMemError) in
                            let pool = try store.newPool(client: client, kind: kind)
                            XCTAssertNil(model.pools[pool], "step \(step): pool handed out twice")
                            model.pools[pool] = kind
                        }, step)
                case 20..<26:  // destroy pool
                    let pool = randomPool()
                    let expected = model.error(for: pool)
                    expectError(
                        expected, { () throws(TMemError) in try store.destroyPool(pool) }, step)
                    if expected == nil { expectedReleases += model.removePool(pool) }
                case 26..<36:  // flush object
                    let pool = randomPool()
                    let object = randomObject()
                    let expected = model.error(for: pool)
                    let keys = model.pages.keys.filter { $0.pool == pool && $0.object == object }
                    expectError(
                        expected,
                        { () throws(TMemError) in
                            let flushed = try store.flushObject(pool: pool, object: object)
                            XCTAssertEqual(flushed, keys.count, "step \(step)")
                        }, step)
                    if expected == nil {
                        expectedReleases += keys.compactMap { model.pages.removeValue(forKey: $0) }
                    }
                case 36..<450:  // put
                    let key = TMemKey(
                        pool: randomPool(), object: randomObject(), index: randomIndex())
                    let handle = storage.makeHandle()
                    let expected = model.error(for: key.pool)
                    expectError(
                        expected, { () throws(TMemError) in try store.put(key, handle: handle) },
                        step)
                    if expected == nil {
                        if let old = model.pages.updateValue(handle, forKey: key) {
                            expectedReleases.append(old)
                        }
                        model.everStored.insert(handle)
                    }
                case 450..<800:  // get, in its variants
                    let key = TMemKey(
                        pool: randomPool(), object: randomObject(), index: randomIndex())
                    let expected = model.error(for: key.pool)
                    let stored = model.pages[key]
                    let useIfHandle = UInt8.random(in: 0..<8, using: &rng) == 0
                    let ifHandle: UInt64? =
                        useIfHandle
                        ? (Bool.random(using: &rng) ? stored : stored.map { $0 + 1 }) : nil
                    let forceRemove = UInt8.random(in: 0..<8, using: &rng) == 0
                    let readFails = UInt8.random(in: 0..<10, using: &rng) == 0
                    let acts = stored != nil && (ifHandle == nil || ifHandle == stored)
                    let removes =
                        model.pools[key.pool] == .ephemeral || exclusiveGets || forceRemove
                    var sawRemoved: Bool?
                    expectError(
                        expected,
                        { () throws(TMemError) in
                            let got = try store.get(
                                key, ifHandle: ifHandle, forceRemove: forceRemove
                            ) {
                                handle, removed -> UInt64? in
                                sawRemoved = removed
                                if removed { storage.release(handle) }
                                return readFails ? nil : handle
                            }
                            XCTAssertEqual(got, acts && !readFails ? stored : nil, "step \(step)")
                        }, step)
                    if expected == nil {
                        XCTAssertEqual(sawRemoved, acts ? removes : nil, "step \(step)")
                        if acts, let stored, removes || readFails {
                            model.pages[key] = nil
                            expectedReleases.append(stored)
                        }
                    }
                default:  // flush page
                    let key = TMemKey(
                        pool: randomPool(), object: randomObject(), index: randomIndex())
                    let expected = model.error(for: key.pool)
                    let stored = model.pages[key]
                    let ifHandle: UInt64? =
                        UInt8.random(in: 0..<4, using: &rng) == 0
                        ? (Bool.random(using: &rng) ? stored : 0) : nil
                    let acts = stored != nil && (ifHandle == nil || ifHandle == stored)
                    expectError(
                        expected,
                        { () throws(TMemError) in
                            let found = try store.flushPage(key, ifHandle: ifHandle)
                            XCTAssertEqual(found, acts, "step \(step)")
                        }, step)
                    if expected == nil, acts, let stored {
                        model.pages[key] = nil
                        expectedReleases.append(stored)
                    }
                }
                XCTAssertEqual(
                    storage.takeReleasedSinceMark(), expectedReleases.sorted(),
                    "step \(step) roll \(roll)")
                if step % 5000 == 0 {
                    let found = store.checkInvariants()
                    XCTAssertEqual(found, model.pages, "step \(step)")
                    let objects = Set(
                        model.pages.keys.map { TMemKey(pool: $0.pool, object: $0.object, index: 0) }
                    )
                    XCTAssertEqual(store.stats.objCount, objects.count)
                    XCTAssertEqual(store.stats.pagesStored, model.pages.count)
                }
                if Task.isCancelled { break }
            }
            XCTAssertEqual(store.checkInvariants(), model.pages)
            XCTAssertGreaterThan(store.stats.objCountMax, 10)
        }

        // Every handle ever stored is released exactly once, by the end (the
        // store's deinit releases what is left).
        let releases = storage.allReleases
        XCTAssertEqual(Set(releases.keys), model.everStored)
        XCTAssertEqual(releases.values.filter { $0 != 1 }.count, 0, "a handle released twice")
    }
}
