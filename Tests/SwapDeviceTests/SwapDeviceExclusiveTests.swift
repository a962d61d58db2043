// One user per swap file (SwapDevice+Exclusive.swift): a second device on the
// same file is refused, in this process as in another (the two-process case
// runs the real zcache-sim in ZCacheSimTests), without touching the first
// device's pages; an area the kernel lists in /proc/swaps is refused; a
// temporary swap file has no name once it is open.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

#if canImport(Glibc)
    import Glibc
#endif

final class SwapDeviceExclusiveTests: XCTestCase {
    func testASecondDeviceOnTheSameFileIsRefusedAndTheFirstLosesNothing() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        let first = try SwapDevice.create(path: path, pages: 16)
        defer { first.close() }
        let slots: [UInt64] = [1, 5, 15]
        XCTAssertTrue(writeSlots(first, slots).values.allSatisfy(\.succeeded))

        // Both open and create are refused; create must not truncate the file.
        for attempt in ["open", "create"] {
            XCTAssertThrowsError(
                try attempt == "open"
                    ? SwapDevice.open(path: path) : SwapDevice.create(path: path, pages: 4),
                attempt
            ) { error in
                XCTAssertEqual(error as? SwapDeviceError, .inUse(holder: getpid()), attempt)
                XCTAssertTrue("\(error)".contains("in this process"), "\(error)")
            }
        }
        var status = stat()
        XCTAssertEqual(stat(path, &status), 0)
        XCTAssertEqual(Int(status.st_size), 16 * pageSize, "the refused create changed the file")
        let read = readSlots(first, slots)
        for slot in slots {
            XCTAssertEqual(read[Int(slot)], pageContents(slot: slot), "slot \(slot)")
        }

        // Once the first device is closed, the file is free again.
        first.close()
        let second = try SwapDevice.open(path: path)
        defer { second.close() }
        XCTAssertEqual(second.slotCount, 16)
        XCTAssertEqual(readSlots(second, slots)[5], pageContents(slot: 5))
    }

    /// The lock is the kernel's, not a table in this module: a lock taken by
    /// hand with flock(2) keeps a device out just the same.
    func testAFileLockedByAnyoneElseIsRefused() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        try SwapDevice.create(path: path, pages: 8).close()
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertEqual(flock(fd, LOCK_EX | LOCK_NB), 0)
        XCTAssertThrowsError(try SwapDevice.open(path: path)) {
            XCTAssertEqual($0 as? SwapDeviceError, .inUse(holder: getpid()))
        }
        XCTAssertEqual(flock(fd, LOCK_UN), 0)
        XCTAssertNoThrow(try SwapDevice.open(path: path).close())
    }

    func testAnActiveSystemSwapAreaIsRefused() throws {
        let directory = try makeScratchDirectory(self)
        // A space in the name: /proc/swaps writes it as \040.
        let path = directory + "/in use.swap"
        try SwapDevice.create(path: path, pages: 8).close()
        let listing = directory + "/swaps"
        try """
        Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
        /dev/vda2                               partition\t1048572\t\t0\t\t-2
        \(path.replacingOccurrences(of: " ", with: "\\040"))  file\t\t28\t\t0\t\t-3

        """.write(toFile: listing, atomically: true, encoding: .utf8)
        var configuration = SwapDevice.Configuration()
        configuration.systemSwapAreasPath = listing
        XCTAssertThrowsError(try SwapDevice.open(path: path, configuration: configuration)) {
            XCTAssertEqual($0 as? SwapDeviceError, .activeSystemSwapArea)
        }
        XCTAssertThrowsError(
            try SwapDevice.create(path: path, pages: 4, configuration: configuration)
        ) {
            XCTAssertEqual($0 as? SwapDeviceError, .activeSystemSwapArea)
        }
        var status = stat()
        XCTAssertEqual(stat(path, &status), 0)
        XCTAssertEqual(Int(status.st_size), 8 * pageSize)
        // Another file in the same directory is not in the list.
        XCTAssertNoThrow(
            try SwapDevice.create(
                path: directory + "/other", pages: 4, configuration: configuration
            )
            .close())
        XCTAssertEqual(
            SwapDevice.activeSwapAreaPaths(
                in: try String(contentsOfFile: listing, encoding: .utf8)),
            ["/dev/vda2", path])
    }

    func testTheHolderIsNamedFromProcLocks() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        try SwapDevice.create(path: path, pages: 8).close()
        var status = stat()
        XCTAssertEqual(stat(path, &status), 0)
        let identity = FileIdentity(status)
        let device =
            String(identity.major, radix: 16).leftPad(2) + ":"
            + String(identity.minor, radix: 16).leftPad(2)
        let locks = path + ".locks"
        try """
        1: POSIX  ADVISORY  WRITE 111 \(device):\(identity.inode) 0 EOF
        2: FLOCK  ADVISORY  WRITE 4242 \(device):\(identity.inode) 0 EOF
        2: -> FLOCK  ADVISORY  WRITE 5151 \(device):\(identity.inode) 0 EOF
        3: FLOCK  ADVISORY  WRITE 999 \(device):\(identity.inode + 1) 0 EOF

        """.write(toFile: locks, atomically: true, encoding: .utf8)
        XCTAssertEqual(SwapDevice.lockHolder(of: identity, locksPath: locks), 4242)
        XCTAssertNil(SwapDevice.lockHolder(of: identity, locksPath: path + ".missing"))
        XCTAssertEqual(
            "\(SwapDeviceError.inUse(holder: 4242))", "swap file is in use by process 4242")
        XCTAssertEqual(
            "\(SwapDeviceError.inUse(holder: nil))", "swap file is in use by another process")
    }

    func testATemporarySwapFileHasNoNameOnceOpen() throws {
        let directory = try makeScratchDirectory(self)
        let device = try SwapDevice.createTemporary(in: directory, pages: 8, label: "scratch")
        defer { device.close() }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: device.path))
        XCTAssertEqual(device.slotCount, 8)
        XCTAssertTrue(writeSlots(device, [1, 7]).values.allSatisfy(\.succeeded))
        XCTAssertEqual(readSlots(device, [7])[7], pageContents(slot: 7))
    }

    func testOctalEscapesInProcSwaps() {
        XCTAssertEqual(SwapDevice.unescapeOctal("/a\\040b\\011c\\134d"), "/a b\tc\\d")
        XCTAssertEqual(SwapDevice.unescapeOctal("/plain"), "/plain")
        XCTAssertEqual(SwapDevice.unescapeOctal("/bad\\9x"), "/bad\\9x")
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
