// The per-object page map against a Dictionary, and its choice between a
// direct array and a hash table.

import XCTest
import ZCacheSupport

@testable import TMem

final class PageMapModelTests: XCTestCase {
    /// Random inserts, replacements and removals over several index patterns,
    /// each step compared with a Dictionary and the map's invariants checked.
    /// "cycles" crosses between the direct array and the table both ways.
    func testMatchesADictionaryUnderRandomOperations() {
        var generator = SplitMix64(seed: 0x7A6D_656D)
        let farIndexes: [UInt32] = [
            UInt32.max, UInt32.max - 1, 1 << 31, 3_000_000, 1 << 20, 4096, 1000, 520,
        ]
        // Each pattern: given the step, whether to insert (else remove) and which index.
        let patterns: [(String, (Int) -> (insert: Bool, index: UInt32))] = [
            (
                "dense",
                { _ in
                    (Bool.random(using: &generator), UInt32.random(in: 0..<300, using: &generator))
                }
            ),
            (
                "swap-like",
                { _ in
                    (Bool.random(using: &generator), UInt32.random(in: 0..<32, using: &generator))
                }
            ),
            (
                "sparse",
                { _ in
                    (
                        Bool.random(using: &generator),
                        UInt32.random(in: 0..<(1 << 16), using: &generator) * 4099
                    )
                }
            ),
            (
                "full range",
                { _ in
                    (
                        Bool.random(using: &generator),
                        UInt32.random(in: UInt32.max - 40...UInt32.max, using: &generator)
                    )
                }
            ),
            (
                "dense, now and then far",
                { _ in
                    let far = UInt32.random(in: 0..<32, using: &generator) == 0
                    return (
                        Bool.random(using: &generator),
                        far
                            ? farIndexes.randomElement(using: &generator)!
                            : UInt32.random(in: 0..<200, using: &generator)
                    )
                }
            ),
            (
                // Fill densely, add far indexes, take them away, drain: repeated.
                "cycles",
                { step in
                    let dense = UInt32.random(in: 0..<400, using: &generator)
                    let far = farIndexes.randomElement(using: &generator)!
                    switch step % 3000 {
                    case 0..<1000: return (true, dense)
                    case 1000..<1050: return (true, far)
                    case 1050..<1100: return (false, far)
                    default: return (false, dense)
                    }
                }
            ),
        ]
        for (name, nextOperation) in patterns {
            var map = PageMap<UInt64>()
            var model: [UInt32: UInt64] = [:]
            var toTable = 0
            var toDirect = 0
            for step in 0..<21_000 {
                let (insert, index) = nextOperation(step)
                let value = UInt64(step)
                let wasDirect = map.isDirect
                let wasEmpty = map.isEmpty
                if insert {
                    XCTAssertEqual(
                        map.insert(value, at: index), model.updateValue(value, forKey: index), name)
                } else {
                    XCTAssertEqual(map.remove(index), model.removeValue(forKey: index), name)
                }
                if !wasEmpty && !map.isEmpty && wasDirect != map.isDirect {
                    if map.isDirect { toDirect += 1 } else { toTable += 1 }
                }
                let probe = nextOperation(step).index
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
            if name == "cycles" {
                XCTAssertGreaterThanOrEqual(
                    toTable, 7, "\(name): left the direct array in each cycle")
                XCTAssertGreaterThanOrEqual(
                    toDirect, 6, "\(name): came back to it in each cycle after the first")
            }
            for index in Array(model.keys).shuffled(using: &generator) {
                XCTAssertEqual(map.remove(index), model.removeValue(forKey: index))
                XCTAssertNil(map.lookup(index))
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

    /// A handle the size of ZCache's (8 bytes, optional included), so the byte
    /// figures below are the production ones.
    private typealias PointerMap = PageMap<UnsafeRawPointer>

    private func handle(_ n: Int) -> UnsafeRawPointer { UnsafeRawPointer(bitPattern: n + 1)! }

    /// The frontswap swizzle gives each object swap indexes 0..<32 (8192 slots):
    /// whatever order they arrive in, the map ends as a 32-slot direct array,
    /// 8 bytes a page, where a table would take 64 slots of 16 bytes.
    func testASwapObjectIsADirectArray() {
        XCTAssertEqual(MemoryLayout<UnsafeRawPointer?>.stride, 8)
        var generator = SplitMix64(seed: 32)
        for _ in 0..<50 {
            var map = PointerMap()
            for (n, index) in (0..<32 as Range<UInt32>).shuffled(using: &generator).enumerated() {
                XCTAssertNil(map.insert(handle(n), at: index))
                map.checkInvariants()
            }
            XCTAssertTrue(map.isDirect)
            XCTAssertEqual(map.capacity, 32)
            XCTAssertEqual(map.storageBytes, 32 * 8)
            XCTAssertEqual(
                PointerMap.tableCapacity(for: 32) * MemoryLayout<PointerMap.Slot>.stride, 1024)
        }
    }

    /// The rule, against the byte figures it is stated in: at each reshape the
    /// direct array is kept exactly when it costs no more than the table would.
    func testTheCheaperArrayIsChosenOnEveryReshape() {
        var generator = SplitMix64(seed: 0xD1EC7)
        for _ in 0..<2000 {
            var map = PointerMap()
            var model: [UInt32: Int] = [:]
            let spread = UInt32.random(in: 1...4096, using: &generator)
            for n in 0..<Int.random(in: 1...200, using: &generator) {
                let index = UInt32.random(in: 0..<spread, using: &generator)
                let before = (map.direct.count, map.slots.count)
                _ = map.insert(handle(n), at: index)
                model[index] = n
                guard before != (map.direct.count, map.slots.count) else { continue }
                // A reshape: compute the choice independently from the model.
                let highest = Int(model.keys.max()!)
                var directSlots = 8
                while directSlots <= highest { directSlots *= 2 }
                var tableSlots = 8
                while model.count * 4 > tableSlots * 3 { tableSlots *= 2 }
                if directSlots * 8 <= tableSlots * 16 {
                    XCTAssertEqual(map.direct.count, directSlots, "\(model.count) up to \(highest)")
                    XCTAssertTrue(map.slots.isEmpty)
                } else {
                    XCTAssertEqual(map.slots.count, tableSlots, "\(model.count) up to \(highest)")
                    XCTAssertTrue(map.direct.isEmpty)
                }
            }
            map.checkInvariants()
        }
    }

    /// A far index turns a direct array into a table; dense growth turns the
    /// table back into a direct array; a few pages left of many leave it again.
    func testTheModeSwitchesBothWays() {
        var map = PointerMap()
        for index in 0..<32 as Range<UInt32> { _ = map.insert(handle(Int(index)), at: index) }
        XCTAssertTrue(map.isDirect)
        _ = map.insert(handle(9999), at: UInt32.max)
        XCTAssertFalse(map.isDirect, "a direct array up to UInt32.max is never cheaper")
        XCTAssertEqual(map.capacity, 64)
        map.checkInvariants()
        XCTAssertEqual(map.lookup(UInt32.max), handle(9999))
        XCTAssertEqual(map.remove(UInt32.max), handle(9999))
        for index in 32..<49 as Range<UInt32> { _ = map.insert(handle(Int(index)), at: index) }
        XCTAssertTrue(
            map.isDirect,
            "back when the table had to grow (to 128 slots) and 64 direct slots were cheaper")
        XCTAssertEqual(map.capacity, 64)
        for index in 0..<49 as Range<UInt32> {
            XCTAssertEqual(map.lookup(index), handle(Int(index)))
        }
        map.checkInvariants()

        for index in 49..<4096 as Range<UInt32> { _ = map.insert(handle(Int(index)), at: index) }
        XCTAssertEqual(map.capacity, 4096)
        for index in 1..<4095 as Range<UInt32> { _ = map.remove(index) }
        XCTAssertFalse(map.isDirect, "two pages of 4096 slots went back to a table")
        XCTAssertEqual(
            map.capacity, 16, "the table shrank with them (below 1/8 full: halved or more)")
        XCTAssertEqual(map.lookup(0), handle(0))
        XCTAssertEqual(map.lookup(4095), handle(4095))
        map.checkInvariants()
    }
}
