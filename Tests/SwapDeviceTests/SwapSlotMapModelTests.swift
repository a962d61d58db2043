// The slot map against a model of the kernel's swap_map rules, under random operations.

import XCTest
import ZCacheSupport

@testable import SwapDevice

/// The kernel's rules, written as plainly as possible.
private struct SlotModel {
    let slotCount: Int
    var count: [Int: Int] = [:]
    var cache: Set<Int> = []
    var badFrees = 0

    func inUse(_ slot: Int) -> Bool { (count[slot] ?? 0) > 0 || cache.contains(slot) }
    var used: Int { (1..<slotCount).filter(inUse).count }
}

final class SwapSlotMapModelTests: XCTestCase {
    func testRandomOperationsMatchTheModel() throws {
        for seed: UInt64 in 1...6 {
            try runModel(seed: seed, slotCount: 48, steps: 6000)
        }
    }

    private func runModel(seed: UInt64, slotCount: Int, steps: Int) throws {
        var generator = SeededGenerator(seed: seed)
        let map = SwapSlotMap(type: 2, slotCount: slotCount)
        var model = SlotModel(slotCount: slotCount)

        func randomEntry() -> SwapEntry? {
            // Mostly slots of this map, sometimes slot 0, past the end, or another type.
            switch Int.random(in: 0..<20, using: &generator) {
            case 0: return SwapEntry(type: 2, offset: 0)
            case 1: return SwapEntry(type: 2, offset: UInt64(slotCount + 3))
            case 2: return SwapEntry(type: 3, offset: 5)
            default:
                return SwapEntry(
                    type: 2, offset: UInt64.random(in: 1..<UInt64(slotCount), using: &generator))
            }
        }
        func modelSlot(_ entry: SwapEntry) -> Int? {
            entry.type == 2 && entry.offset > 0 && entry.offset < UInt64(slotCount)
                ? Int(entry.offset) : nil
        }

        for step in 0..<steps {
            let context = "seed \(seed) step \(step)"
            switch Int.random(in: 0..<8, using: &generator) {
            case 0:
                let got = map.allocate()
                if model.used == slotCount - 1 {
                    XCTAssertNil(got, context)
                } else {
                    let entry = try XCTUnwrap(got, context)
                    let slot = try XCTUnwrap(modelSlot(entry), "allocated \(entry): \(context)")
                    XCTAssertFalse(model.inUse(slot), "allocated a slot in use: \(context)")
                    model.cache.insert(slot)
                }
            case 1:
                let entry = try XCTUnwrap(randomEntry())
                let expected = modelSlot(entry).map(model.inUse) ?? false
                XCTAssertEqual(map.duplicate(entry), expected, context)
                if expected, let slot = modelSlot(entry) { model.count[slot, default: 0] += 1 }
            case 2:
                let entry = try XCTUnwrap(randomEntry())
                map.free(entry)
                if let slot = modelSlot(entry), (model.count[slot] ?? 0) > 0 {
                    model.count[slot, default: 0] -= 1
                } else {
                    model.badFrees += 1
                }
            case 3:
                let entry = try XCTUnwrap(randomEntry())
                let expected: SwapcachePrepareResult
                if let slot = modelSlot(entry) {
                    if model.cache.contains(slot) {
                        expected = .alreadyPrepared
                    } else if (model.count[slot] ?? 0) > 0 {
                        expected = .prepared
                        model.cache.insert(slot)
                    } else {
                        expected = .notInUse
                    }
                } else {
                    expected = .notInUse
                }
                XCTAssertEqual(map.swapcachePrepare(entry), expected, context)
            case 4:
                let entry = try XCTUnwrap(randomEntry())
                map.swapcacheFree(entry)
                if let slot = modelSlot(entry), model.cache.contains(slot) {
                    model.cache.remove(slot)
                } else {
                    model.badFrees += 1
                }
            case 5:
                let entry = try XCTUnwrap(randomEntry())
                let expected: Bool
                if let slot = modelSlot(entry), let count = model.count[slot], count > 0 {
                    expected = count != 1
                    if count > 1 { model.count[slot] = count - 1 }
                } else {
                    expected = true
                    model.badFrees += 1
                }
                XCTAssertEqual(map.freeUnlessLast(entry), expected, context)
            case 6:
                let entry = try XCTUnwrap(randomEntry())
                let keep = Bool.random(using: &generator)
                var expected = false
                if let slot = modelSlot(entry) {
                    let count = model.count[slot] ?? 0
                    if count > 0 { model.count[slot] = count - 1 } else { model.badFrees += 1 }
                    if !model.cache.contains(slot) {
                        model.badFrees += 1
                    } else if !(count > 1 && keep) {
                        model.cache.remove(slot)
                    }
                    expected = model.cache.contains(slot)
                } else {
                    model.badFrees += 1
                }
                XCTAssertEqual(map.endSwapIn(entry, keepCacheWhenShared: keep), expected, context)
            default:
                let entry = try XCTUnwrap(randomEntry())
                let slot = modelSlot(entry)
                XCTAssertEqual(map.useCount(entry), slot.map { model.count[$0] ?? 0 } ?? 0, context)
                XCTAssertEqual(
                    map.hasCache(entry), slot.map { model.cache.contains($0) } ?? false, context)
            }
            XCTAssertEqual(map.usedSlots, model.used, context)
            XCTAssertEqual(map.freeSlots, slotCount - 1 - model.used, context)
            XCTAssertEqual(map.badFrees, model.badFrees, context)
        }
    }

    func testSwapcachePrepareOutcomes() throws {
        let map = SwapSlotMap(type: 0, slotCount: 8)
        let entry = try XCTUnwrap(map.allocate())
        XCTAssertNotEqual(entry.offset, 0)
        // Freshly allocated: has-cache set, count 0 (get_swap_page).
        XCTAssertTrue(map.hasCache(entry))
        XCTAssertEqual(map.useCount(entry), 0)
        XCTAssertEqual(map.swapcachePrepare(entry), .alreadyPrepared)
        XCTAssertTrue(map.duplicate(entry))  // a page table now refers to it
        map.swapcacheFree(entry)  // the page left the swap cache
        XCTAssertEqual(map.usedSlots, 1)
        XCTAssertEqual(map.swapcachePrepare(entry), .prepared)
        XCTAssertEqual(map.swapcachePrepare(entry), .alreadyPrepared)
        map.swapcacheFree(entry)
        map.free(entry)  // last reference: the slot is free
        XCTAssertEqual(map.usedSlots, 0)
        XCTAssertEqual(map.swapcachePrepare(entry), .notInUse)
        XCTAssertFalse(map.duplicate(entry))
        XCTAssertEqual(map.badFrees, 0)
    }

    func testAllocationNeverHandsOutSlotZeroAndStopsWhenFull() throws {
        let map = SwapSlotMap(type: 0, slotCount: 5)
        var seen: Set<UInt64> = []
        while let entry = map.allocate() { seen.insert(entry.offset) }
        XCTAssertEqual(seen, [1, 2, 3, 4])
        XCTAssertEqual(map.freeSlots, 0)
        let three = try XCTUnwrap(SwapEntry(type: 0, offset: 3))
        map.swapcacheFree(three)
        XCTAssertEqual(map.allocate(), three)
    }

    func testUseCountSaturatesInsteadOfOverflowing() throws {
        let map = SwapSlotMap(type: 0, slotCount: 2)
        let entry = try XCTUnwrap(map.allocate())
        for _ in 0..<SwapSlotMap.maxUseCount { XCTAssertTrue(map.duplicate(entry)) }
        XCTAssertFalse(map.duplicate(entry))
        XCTAssertEqual(map.useCount(entry), SwapSlotMap.maxUseCount)
        XCTAssertTrue(map.hasCache(entry))
    }
}
