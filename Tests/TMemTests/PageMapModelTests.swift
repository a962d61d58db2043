// The per-object page map against a Dictionary.

import XCTest
import ZCacheSupport

@testable import TMem

final class PageMapModelTests: XCTestCase {
    /// Random inserts, replacements and removals over several index patterns,
    /// each step compared with a Dictionary and the table's invariants checked.
    func testMatchesADictionaryUnderRandomOperations() {
        var generator = SplitMix64(seed: 0x7A6D_656D)
        let patterns: [(String, () -> UInt32)] = [
            ("dense", { UInt32.random(in: 0..<300, using: &generator) }),
            ("sparse", { UInt32.random(in: 0..<(1 << 16), using: &generator) * 4099 }),
            ("full range", { UInt32.random(in: UInt32.max - 40...UInt32.max, using: &generator) }),
        ]
        for (name, nextIndex) in patterns {
            var map = PageMap<UInt64>()
            var model: [UInt32: UInt64] = [:]
            for step in 0..<20_000 {
                let index = nextIndex()
                let value = UInt64(step)
                if Bool.random(using: &generator) || model.count < 10 {
                    XCTAssertEqual(
                        map.insert(value, at: index), model.updateValue(value, forKey: index), name)
                } else {
                    XCTAssertEqual(map.remove(index), model.removeValue(forKey: index), name)
                }
                let probe = nextIndex()
                XCTAssertEqual(map.lookup(probe), model[probe], name)
                XCTAssertEqual(map.lookup(index), model[index], name)
                XCTAssertEqual(map.count, model.count, name)
                if step % 97 == 0 {
                    map.checkInvariants()
                    var seen: [UInt32: UInt64] = [:]
                    map.forEach { seen[$0] = $1 }
                    XCTAssertEqual(seen, model, name)
                }
            }
            for index in Array(model.keys).shuffled(using: &generator) {
                XCTAssertEqual(map.remove(index), model.removeValue(forKey: index))
            }
            XCTAssertTrue(map.isEmpty)
            XCTAssertEqual(map.capacity, 0, "an empty map keeps no storage")
        }
    }

    func testDenseIndexesGrowAndShrink() {
        var map = PageMap<UInt64>()
        for index in 0..<100_000 as Range<UInt32> {
            XCTAssertNil(map.insert(UInt64(index), at: index))
        }
        map.checkInvariants()
        XCTAssertEqual(map.count, 100_000)
        XCTAssertLessThanOrEqual(map.capacity, 262_144)
        for index in 0..<100_000 as Range<UInt32> {
            XCTAssertEqual(map.lookup(index), UInt64(index))
        }
        for index in 0..<99_990 as Range<UInt32> {
            XCTAssertEqual(map.remove(index), UInt64(index))
        }
        map.checkInvariants()
        XCTAssertLessThanOrEqual(map.capacity, 128, "shrinks as pages leave")
        XCTAssertEqual(map.lookup(99_995), 99_995)
    }

    func testAFewScatteredIndexesStaySmall() {
        var map = PageMap<UInt64>()
        for (n, index) in [7, 40_000, 1 << 20, 3_000_000, UInt32.max].enumerated() {
            _ = map.insert(UInt64(n), at: UInt32(index))
        }
        XCTAssertEqual(map.capacity, PageMap<UInt64>.minimumCapacity)
        map.checkInvariants()
    }
}
