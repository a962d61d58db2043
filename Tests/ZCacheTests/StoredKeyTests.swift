// The key ZCache stores in front of a zsmalloc object (`StoredKey`): every key
// comes back from its bytes, its size is a shape byte plus the LEB128 size of
// its non-zero fields (computed here digit by digit, independently), a
// typical swap key takes at most 5 bytes, truncated or overlong bytes decode to nil (never a trap), and
// an evictor names the right key through a real cache.

import XCTest
import ZCacheSupport

@testable import TMem
@testable import ZCache

final class StoredKeyTests: XCTestCase {
    /// LEB128 bytes of `value`, one 7-bit digit at a time (the reference).
    private func referenceVarint(_ value: UInt64) -> [UInt8] {
        var digits: [UInt8] = []
        var rest = value
        repeat {
            let digit = UInt8(rest % 128)
            rest /= 128
            digits.append(rest == 0 ? digit : digit + 128)
        } while rest != 0
        return digits
    }

    /// A byte with bit k set for each non-zero field k, then those fields.
    private func referenceBytes(_ key: TMemKey) -> [UInt8] {
        let fields = [
            UInt64(key.pool.client.rawValue), UInt64(key.pool.index), key.object.a, key.object.b,
            key.object.c, UInt64(key.index),
        ]
        var shape = 0
        for (k, field) in fields.enumerated() where field != 0 { shape += 1 << k }
        return [UInt8(shape)] + fields.filter { $0 != 0 }.flatMap(referenceVarint)
    }

    private func randomKey(_ random: inout SplitMix64) -> TMemKey {
        // Values of every bit length, so every varint length is reached.
        func field(_ bits: Int) -> UInt64 {
            let length = Int(random.next() % UInt64(bits + 1))
            return length == 0 ? 0 : random.next() >> UInt64(64 - length)
        }
        return TMemKey(
            pool: PoolID(
                client: ClientID(rawValue: UInt16(field(16))), index: UInt16(field(16))),
            object: ObjectID(field(64), field(64), field(64)), index: UInt32(field(32)))
    }

    func testEveryKeyRoundTripsInItsReferenceBytes() {
        var random = SplitMix64(seed: 13)
        var buffer = [UInt8](repeating: 0xAA, count: StoredKey.maxSize + 8)
        for _ in 0..<20_000 {
            let key = randomKey(&random)
            let expected = referenceBytes(key)
            let written = buffer.withUnsafeMutableBytes {
                StoredKey.store(key, at: $0.baseAddress!)
            }
            XCTAssertEqual(written, expected.count)
            XCTAssertEqual(StoredKey.size(of: key), expected.count)
            XCTAssertLessThanOrEqual(written, StoredKey.maxSize)
            XCTAssertEqual(Array(buffer[..<written]), expected)
            // Bytes after the key (the object) do not disturb it.
            let decoded = buffer.withUnsafeBytes { StoredKey.load(from: $0) }
            XCTAssertEqual(decoded, key)
        }
        let widest = TMemKey(
            pool: PoolID(client: ClientID(rawValue: .max), index: .max),
            object: ObjectID(.max, .max, .max), index: .max)
        XCTAssertEqual(StoredKey.size(of: widest), StoredKey.maxSize)
    }

    func testATypicalSwapKeyTakesAtMostFiveBytes() {
        for (type, offset) in [(0, 0), (3, 5_000), (31, (1 << 21) - 1)] as [(UInt16, UInt32)] {
            let key = TMemKey(
                pool: PoolID(client: ClientID(rawValue: 0), index: type),
                object: ObjectID(0), index: offset)
            XCTAssertLessThanOrEqual(StoredKey.size(of: key), 5, "type \(type) offset \(offset)")
        }
    }

    func testTruncatedOrOverlongBytesDecodeToNil() {
        var random = SplitMix64(seed: 14)
        for _ in 0..<2_000 {
            let bytes = referenceBytes(randomKey(&random))
            let cut = Int(random.next() % UInt64(bytes.count))
            XCTAssertNil(Array(bytes[..<cut]).withUnsafeBytes { StoredKey.load(from: $0) })
        }
        // A client of 2^16 does not fit its UInt16; eleven continued digits
        // overflow 64 bits; a field marked present must not be zero; bits 6
        // and 7 of the shape byte name no field.
        XCTAssertNil(
            ([0b1] + referenceVarint(1 << 16)).withUnsafeBytes { StoredKey.load(from: $0) })
        XCTAssertNil(
            ([0b100] + [UInt8](repeating: 0xFF, count: 10) + [1]).withUnsafeBytes {
                StoredKey.load(from: $0)
            })
        XCTAssertNil(([0b100, 0]).withUnsafeBytes { StoredKey.load(from: $0) })
        XCTAssertNil(([0b0100_0000]).withUnsafeBytes { StoredKey.load(from: $0) })
        // The all-zero key is the shape byte alone.
        XCTAssertEqual(
            ([0]).withUnsafeBytes { StoredKey.load(from: $0) },
            TMemKey(
                pool: PoolID(client: ClientID(rawValue: 0), index: 0), object: ObjectID(0), index: 0
            ))
    }

    func testEvictionNamesTheKeyOfEachEvictedEntry() throws {
        // Ephemeral pages under wide keys (every field used) in a small
        // zsmalloc cache: every eviction must flush exactly the key of the
        // entry it freed, so each key either gets its own page or misses, and
        // the hits are exactly the pages still counted.
        let cache = CoreTestSupport.cache(pageframes: 8) { $0.allocator = .zsmalloc }
        let client = try cache.newClient()
        _ = try cache.newPool(client: client, kind: .ephemeral)
        let pool = try cache.newPool(client: client, kind: .ephemeral)
        var random = SplitMix64(seed: 15)
        var stored: [(TMemKey, [UInt8])] = []
        for n in 0..<200 {
            let key = TMemKey(
                pool: pool, object: ObjectID(random.next(), random.next() >> 20, UInt64(n)),
                index: UInt32(truncatingIfNeeded: random.next()))
            let page = TestPages.text(seed: UInt64(n)).bytes
            let result = try page.withUnsafeBytes { try cache.put(key, page: $0) }
            XCTAssertEqual(result, .stored)
            stored.append((key, page))
        }
        let pages = cache.statistics.zcache.ephZPages
        XCTAssertGreaterThan(cache.statistics.zcache.evictedEphZPages, 0)
        XCTAssertGreaterThan(pages, 0)
        var hits = 0
        var loaded = [UInt8](repeating: 0, count: pageSize)
        for (key, page) in stored {
            let hit = try loaded.withUnsafeMutableBytes { try cache.get(key, into: $0) }
            if hit {
                XCTAssertEqual(loaded, page)
                hits += 1
            }
        }
        XCTAssertEqual(hits, pages)
        cache.assertConsistent()
    }
}
