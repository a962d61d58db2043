// Interoperability with the real tools: mkswap, blkid, swaplabel (util-linux) and file.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapInteropTests: XCTestCase {
    private func mkswap(_ path: String, pages: Int, arguments: [String]) throws {
        XCTAssertEqual(truncate(path, off_t(pages * 4096)), 0)
        let result = try runTool("mkswap", arguments + [path])
        XCTAssertEqual(result.status, 0, "mkswap failed: \(result.stderr)")
    }

    // (mkswap keeps a NUL after the label, so it stores at most 15 bytes of it;
    // the kernel's field, blkid and this module allow 16.)
    func testFileMadeByMkswapOpensWithItsSizeUUIDAndLabel() throws {
        let directory = try makeScratchDirectory(self)
        for (pages, label) in [(10, "small"), (1000, "fifteen-chars-k"), (257, "")] {
            let path = directory + "/mkswap-\(pages)"
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
            let uuid = UUID()
            var arguments = ["-U", uuid.uuidString.lowercased()]
            if !label.isEmpty { arguments += ["-L", label] }
            try mkswap(path, pages: pages, arguments: arguments)

            let device = try SwapDevice.open(path: path)
            XCTAssertEqual(device.slotCount, pages)
            XCTAssertEqual(device.header.lastPage, UInt32(pages - 1))
            XCTAssertEqual(device.header.uuid, uuid)
            XCTAssertEqual(device.header.label, label)
            XCTAssertEqual(device.slots.freeSlots, pages - 1)
            device.close()

            // Our serialisation of the same header is mkswap's page 0, byte for byte.
            let ours = try SwapHeader(lastPage: UInt32(pages - 1), uuid: uuid, label: label)
            let theirs = try readFile(path, offset: 0, count: 4096)
            let difference = zip(theirs, ours.serialized()).enumerated().first { $0.element.0 != $0.element.1 }
            XCTAssertNil(difference, "mkswap's header differs from ours at byte \(difference?.offset ?? -1)")
            XCTAssertEqual(theirs.count, 4096)
        }
    }

    func testMkswapFileForLargerPagesIsForeign() throws {
        let path = try makeScratchDirectory(self) + "/big-pages"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        try mkswap(path, pages: 320, arguments: ["--pagesize", "65536"])
        XCTAssertThrowsError(try SwapDevice.open(path: path)) {
            XCTAssertEqual($0 as? SwapDeviceError, .foreignMagic("SWAPSPACE2 for 65536-byte pages"))
        }
    }

    /// A device made by `create`, with some slots written through the async path.
    private func makeDevice(label: String, pages: Int) throws -> (String, SwapHeader) {
        let path = try makeScratchDirectory(self) + "/created.swap"
        let device = try SwapDevice.create(path: path, pages: pages, label: label)
        let log = CompletionLog()
        for slot in [1, 2, UInt64(pages - 1)] {
            let entry = try XCTUnwrap(SwapEntry(type: 0, offset: slot))
            device.submitWrite(makePage(slot: slot), at: entry) { log.record(Int(slot), $0) }
        }
        device.close()
        XCTAssertEqual(log.all.count, 3)
        XCTAssertEqual(log.failures, 0)
        return (path, device.header)
    }

    func testCreatedFileIsSwapToBlkid() throws {
        let (path, header) = try makeDevice(label: "zcache-blkid", pages: 40)
        let uuid = header.uuid.uuidString.lowercased()
        let probe = try runTool("blkid", ["-p", path])
        XCTAssertEqual(probe.status, 0, probe.stderr)
        XCTAssertTrue(probe.stdout.contains("TYPE=\"swap\""), probe.stdout)
        XCTAssertTrue(probe.stdout.contains("UUID=\"\(uuid)\""), probe.stdout)
        XCTAssertTrue(probe.stdout.contains("LABEL=\"zcache-blkid\""), probe.stdout)
        XCTAssertTrue(probe.stdout.contains("VERSION=\"1\""), probe.stdout)

        let cached = try runTool("blkid", ["-c", "/dev/null", path])
        XCTAssertEqual(cached.status, 0, cached.stderr)
        XCTAssertTrue(cached.stdout.contains("TYPE=\"swap\""), cached.stdout)
        XCTAssertTrue(cached.stdout.contains("UUID=\"\(uuid)\""), cached.stdout)
    }

    func testCreatedFileIsReadBySwaplabel() throws {
        let (path, header) = try makeDevice(label: "zcache-label", pages: 24)
        let result = try runTool("swaplabel", [path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("LABEL: zcache-label"), result.stdout)
        XCTAssertTrue(
            result.stdout.contains("UUID:  \(header.uuid.uuidString.lowercased())"), result.stdout)

        // And what swaplabel writes, open reads.
        let newUUID = UUID()
        let change = try runTool("swaplabel", ["-L", "renamed", "-U", newUUID.uuidString, path])
        XCTAssertEqual(change.status, 0, change.stderr)
        let device = try SwapDevice.open(path: path)
        defer { device.close() }
        XCTAssertEqual(device.header.label, "renamed")
        XCTAssertEqual(device.header.uuid, newUUID)
        XCTAssertEqual(device.slotCount, 24)
    }

    func testCreatedFileIsRecognisedByFile() throws {
        let (path, header) = try makeDevice(label: "zcache-file", pages: 33)
        let result = try runTool("file", [path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let output = result.stdout
        XCTAssertTrue(output.contains("Linux swap file"), output)
        XCTAssertTrue(output.contains("4k page size"), output)
        XCTAssertTrue(output.contains("version 1"), output)
        XCTAssertTrue(output.contains("size 32 pages"), output)  // file(1) prints last_page
        XCTAssertTrue(output.contains("0 bad pages"), output)
        XCTAssertTrue(output.contains("LABEL=zcache-file"), output)
        XCTAssertTrue(output.contains("UUID=\(header.uuid.uuidString.lowercased())"), output)
    }
}
