// The device table: lookups by swap type without a lock, attaches and replacements.

import Foundation
import XCTest

@testable import SwapDevice

final class SwapDeviceTableTests: XCTestCase {
    func testLookupFindsTheAttachedDeviceOfEachTypeAndNothingElse() throws {
        let directory = try makeScratchDirectory(self)
        let table = SwapDeviceTable()
        XCTAssertNil(table.device(type: 0))
        XCTAssertTrue(table.attached.isEmpty)

        let first = try SwapDevice.create(path: directory + "/a.swap", pages: 8, type: 3)
        let second = try SwapDevice.create(path: directory + "/b.swap", pages: 8, type: 31)
        defer {
            first.close()
            second.close()
        }
        table.attach(first)
        table.attach(second)
        XCTAssertTrue(table.device(type: 3) === first)
        XCTAssertTrue(table.device(type: 31) === second)
        for type in [-1, 0, 2, 4, 30, 32, Int.max, Int.min] {
            XCTAssertNil(table.device(type: type), "type \(type)")
        }
        XCTAssertEqual(table.attached.map(\.type), [3, 31])
    }

    func testAReplacedDeviceStaysAliveForLookupsThatLoadedIt() throws {
        let directory = try makeScratchDirectory(self)
        let table = SwapDeviceTable()
        weak var replaced: SwapDevice?
        do {
            let old = try SwapDevice.create(path: directory + "/old.swap", pages: 8, type: 1)
            old.close()
            table.attach(old)
            replaced = old
        }
        let new = try SwapDevice.create(path: directory + "/new.swap", pages: 8, type: 1)
        defer { new.close() }
        table.attach(new)
        XCTAssertTrue(table.device(type: 1) === new)
        // The table still holds the old device (a lookup may have loaded its
        // pointer just before the replacement).
        XCTAssertNotNil(replaced)
        XCTAssertEqual(table.attached.count, 1)
    }
}
