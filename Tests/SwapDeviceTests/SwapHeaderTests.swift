// The swap header: layout, round trip, and every bad-header case rejected by `open`.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapHeaderTests: XCTestCase {
    func testLayoutMatchesTheKernelsUnion() throws {
        let uuid = try XCTUnwrap(UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"))
        let header = try SwapHeader(lastPage: 0x0102_0304, uuid: uuid, label: "swapper")
        let bytes = header.serialized()
        XCTAssertEqual(bytes.count, 4096)
        XCTAssertEqual(Array(bytes[0..<1024]), [UInt8](repeating: 0, count: 1024), "bootbits")
        XCTAssertEqual(Array(bytes[1024..<1028]), [1, 0, 0, 0], "version, little-endian")
        XCTAssertEqual(Array(bytes[1028..<1032]), [4, 3, 2, 1], "last_page")
        XCTAssertEqual(Array(bytes[1032..<1036]), [0, 0, 0, 0], "nr_badpages")
        XCTAssertEqual(
            Array(bytes[1036..<1052]),
            [0x0F, 0x1E, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78, 0x87, 0x96, 0xA5, 0xB4, 0xC3, 0xD2, 0xE1, 0xF0])
        XCTAssertEqual(Array(bytes[1052..<1068]), Array("swapper".utf8) + [UInt8](repeating: 0, count: 9))
        XCTAssertEqual(Array(bytes[1068..<4086]), [UInt8](repeating: 0, count: 4086 - 1068))
        XCTAssertEqual(String(decoding: bytes[4086..<4096], as: UTF8.self), "SWAPSPACE2")
    }

    func testRoundTrip() throws {
        for label in ["", "a", "sixteen-bytes-ok", "ünïcødé"] {
            let header = try SwapHeader(lastPage: 99, label: label)
            let parsed = try header.serialized().withUnsafeBytes {
                try SwapHeader.parse($0, fileSize: 100 * 4096)
            }
            XCTAssertEqual(parsed, header)
            XCTAssertEqual(parsed.label, label)
            XCTAssertEqual(parsed.version, 1)
            XCTAssertEqual(parsed.badPages, 0)
        }
    }

    func testLabelLongerThanSixteenBytesIsRejected() throws {
        XCTAssertThrowsError(try SwapHeader(lastPage: 9, label: "seventeen-bytes!!")) {
            XCTAssertEqual($0 as? SwapDeviceError, .labelTooLong)
        }
        // 9 characters, 18 bytes of UTF-8.
        XCTAssertThrowsError(try SwapHeader(lastPage: 9, label: "ééééééééé")) {
            XCTAssertEqual($0 as? SwapDeviceError, .labelTooLong)
        }
        let directory = try makeScratchDirectory(self)
        XCTAssertThrowsError(
            try SwapDevice.create(path: directory + "/s", pages: 8, label: String(repeating: "x", count: 17))
        ) { XCTAssertEqual($0 as? SwapDeviceError, .labelTooLong) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/s"))
    }

    // MARK: Bad headers through `open`

    /// A valid swap file of `pages` pages made by `create`, closed again.
    private func makeSwapFile(pages: Int = 16) throws -> String {
        let path = try makeScratchDirectory(self) + "/swapfile"
        let device = try SwapDevice.create(path: path, pages: pages, label: "test")
        device.close()
        return path
    }

    private func assertOpenFails(
        _ path: String, with expected: SwapDeviceError, type: Int = 0, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertThrowsError(try SwapDevice.open(path: path, type: type), file: file, line: line) {
            XCTAssertEqual($0 as? SwapDeviceError, expected, file: file, line: line)
        }
    }

    func testFileShorterThanTwoPagesIsTooSmall() throws {
        let directory = try makeScratchDirectory(self)
        let tiny = directory + "/tiny"
        XCTAssertTrue(FileManager.default.createFile(atPath: tiny, contents: Data(count: 100)))
        assertOpenFails(tiny, with: .tooSmall)
        // A header page and nothing else: no slot to use.
        let onePage = directory + "/one"
        let header = try SwapHeader(lastPage: 1)
        XCTAssertTrue(FileManager.default.createFile(atPath: onePage, contents: Data(header.serialized())))
        assertOpenFails(onePage, with: .tooSmall)
        XCTAssertThrowsError(try SwapDevice.create(path: directory + "/c", pages: 1)) {
            XCTAssertEqual($0 as? SwapDeviceError, .tooSmall)
        }
    }

    func testLastPageZeroIsTooSmall() throws {
        let path = try makeSwapFile()
        try patchFile(path, offset: 1028, bytes: [0, 0, 0, 0])
        assertOpenFails(path, with: .tooSmall)
    }

    func testZeroFilledFileHasNoMagic() throws {
        let path = try makeScratchDirectory(self) + "/zeros"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(count: 16 * 4096)))
        assertOpenFails(path, with: .noSwapMagic)
    }

    func testVersionZeroSwapSpaceIsForeign() throws {
        let path = try makeSwapFile()
        try patchFile(path, offset: 4086, bytes: Array("SWAP-SPACE".utf8))
        assertOpenFails(path, with: .foreignMagic("SWAP-SPACE"))
    }

    func testHibernationImageIsForeign() throws {
        let path = try makeSwapFile()
        try patchFile(path, offset: 4086, bytes: Array("S1SUSPEND".utf8) + [0])
        assertOpenFails(path, with: .foreignMagic("S1SUSPEND"))
    }

    func testVersionOtherThanOneIsUnsupported() throws {
        let path = try makeSwapFile()
        try patchFile(path, offset: 1024, bytes: [2, 0, 0, 0])
        assertOpenFails(path, with: .unsupportedVersion(2))
        // A header written on a big-endian machine.
        try patchFile(path, offset: 1024, bytes: [0, 0, 0, 1])
        assertOpenFails(path, with: .unsupportedVersion(0x0100_0000))
    }

    func testLastPageBeyondTheEndOfTheFile() throws {
        let path = try makeSwapFile(pages: 16)
        XCTAssertEqual(truncate(path, 8 * 4096), 0)
        assertOpenFails(path, with: .lastPageBeyondEnd)
        // last_page == pages is one too many; pages - 1 is right.
        XCTAssertEqual(truncate(path, 16 * 4096), 0)
        try patchFile(path, offset: 1028, bytes: [16, 0, 0, 0])
        assertOpenFails(path, with: .lastPageBeyondEnd)
        try patchFile(path, offset: 1028, bytes: [15, 0, 0, 0])
        let device = try SwapDevice.open(path: path)
        XCTAssertEqual(device.slotCount, 16)
        device.close()
    }

    func testListedBadPagesAreRejected() throws {
        let path = try makeSwapFile()
        try patchFile(path, offset: 1032, bytes: [3, 0, 0, 0])
        try patchFile(path, offset: 1536, bytes: [5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0])
        assertOpenFails(path, with: .badPagesListed(3))
    }

    func testInvalidTypeAndMissingFile() throws {
        let path = try makeSwapFile()
        assertOpenFails(path, with: .invalidType(32), type: 32)
        assertOpenFails(path, with: .invalidType(-1), type: -1)
        assertOpenFails(path + ".missing", with: .io(op: "open", errno: ENOENT))
        XCTAssertNil(SwapEntry(type: 32, offset: 1))
        XCTAssertNil(SwapEntry(type: -1, offset: 1))
        XCTAssertEqual(SwapEntry(type: 31, offset: 7)?.description, "swp(31:7)")
    }

    func testHeaderWriteFailureIsAnIOErrorAndLeavesNoFile() throws {
        let path = try makeScratchDirectory(self) + "/nospace"
        let full = syscalls(pwrite: { _, _, _ in -Int(ENOSPC) })
        XCTAssertThrowsError(
            try SwapDevice.create(path: path, pages: 8, configuration: configuration(syscalls: full))
        ) { XCTAssertEqual($0 as? SwapDeviceError, .io(op: "pwrite", errno: ENOSPC)) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testCreateThenOpenKeepsSizeUUIDAndLabel() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        let created = try SwapDevice.create(path: path, pages: 64, label: "zcache", type: 3)
        let header = created.header
        created.close()
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.size] as? NSNumber)?.intValue, 64 * 4096)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let opened = try SwapDevice.open(path: path, type: 3)
        defer { opened.close() }
        XCTAssertEqual(opened.header, header)
        XCTAssertEqual(opened.slotCount, 64)
        XCTAssertEqual(opened.slots.freeSlots, 63)
        XCTAssertEqual(opened.type, 3)
        XCTAssertEqual(opened.header.label, "zcache")
    }
}
