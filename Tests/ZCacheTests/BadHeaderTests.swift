// Swap files with corrupt headers, through every field, from ZCache's side:
// every one is a typed `SwapDeviceError` (never a crash), a device that does
// open has exactly the header's geometry, and a cache whose device failed to
// open keeps every page it holds. SwapDeviceTests check one case per error;
// this sweeps every byte of the header page and the size edge cases.

import Foundation
import XCTest

@testable import ZCache

final class BadHeaderTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory =
            NSTemporaryDirectory()
            + "zcache-badheader-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func goodHeader(lastPage: UInt32 = 15, label: String = "good") throws -> [UInt8] {
        try SwapHeader(lastPage: lastPage, label: label).serialized()
    }

    /// Every byte of the header page set to several values: `parse` either
    /// throws a typed error or returns what the bytes say, never traps.
    func testEveryHeaderByteCorruptedParsesOrThrowsTyped() throws {
        let good = try goodHeader()
        var errors: [String: Int] = [:]
        var accepted = 0
        for offset in 0..<pageSize {
            for value: UInt8 in [0x00, 0x01, 0x7F, 0xFF, good[offset] ^ 0x80] {
                var page = good
                page[offset] = value
                do {
                    let header = try page.withUnsafeBytes {
                        try SwapHeader.parse($0, fileSize: 16 * Int64(pageSize))
                    }
                    accepted += 1
                    XCTAssertEqual(header.version, 1)
                    XCTAssertEqual(header.badPages, 0)
                    XCTAssertTrue(header.lastPage > 0 && header.lastPage < 16, "offset \(offset)")
                    XCTAssertEqual(
                        header.lastPage,
                        page.withUnsafeBytes {
                            $0.loadUnaligned(fromByteOffset: 1028, as: UInt32.self)
                        })
                    // Version, bad pages and magic accept no change; last_page
                    // accepts one that still fits the file (checked above).
                    if (1024..<1028).contains(offset) || (1032..<1036).contains(offset)
                        || (4086..<4096).contains(offset)
                    {
                        XCTAssertEqual(
                            page[offset], good[offset], "offset \(offset) accepted with \(value)")
                    }
                } catch {
                    errors[
                        Mirror(reflecting: error).children.first?.label ?? "\(error)", default: 0] +=
                        1
                    XCTAssertTrue(
                        (1024..<1036).contains(offset) || (4086..<4096).contains(offset),
                        "offset \(offset) = \(value) rejected: \(error)")
                }
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        print(
            "BadHeaderTests: \(pageSize * 5) corrupted headers, \(accepted) accepted, rejected: \(errors)"
        )
    }

    /// Each field set to extreme values, through `SwapDevice.open` and `attachSwapDevice`.
    func testEachFieldThroughOpen() throws {
        let cache = ZCache(configuration: ZCacheConfiguration())
        try cache.frontswapInit(type: 1)
        let kept = TestPages.text(seed: 1).bytes
        XCTAssertEqual(
            try kept.withUnsafeBytes { try cache.frontswapStore(type: 1, offset: 5, page: $0) },
            .stored)

        let cases: [(String, Int, [UInt8], SwapDeviceError?)] = [
            ("magic zeroed", 4086, [UInt8](repeating: 0, count: 10), .noSwapMagic),
            ("magic one byte off", 4095, Array("3".utf8), .noSwapMagic),
            ("magic lowercase", 4086, Array("swapspace2".utf8), .noSwapMagic),
            ("version 0", 1024, [0, 0, 0, 0], .unsupportedVersion(0)),
            ("version max", 1024, [0xFF, 0xFF, 0xFF, 0xFF], .unsupportedVersion(.max)),
            ("last_page 0", 1028, [0, 0, 0, 0], .tooSmall),
            ("last_page max", 1028, [0xFF, 0xFF, 0xFF, 0xFF], .lastPageBeyondEnd),
            ("last_page = pages", 1028, [16, 0, 0, 0], .lastPageBeyondEnd),
            ("last_page 1", 1028, [1, 0, 0, 0], nil),
            ("nr_badpages 1", 1032, [1, 0, 0, 0], .badPagesListed(1)),
            ("nr_badpages max", 1032, [0xFF, 0xFF, 0xFF, 0xFF], .badPagesListed(Int(UInt32.max))),
            ("label invalid UTF-8", 1052, [0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80], nil),
            ("label 16 bytes, no NUL", 1052, Array("0123456789abcdef".utf8), nil),
            ("uuid all ones", 1036, [UInt8](repeating: 0xFF, count: 16), nil),
        ]
        for (name, offset, bytes, expected) in cases {
            var page = try goodHeader()
            page.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            let path = directory + "/\(name.replacingOccurrences(of: " ", with: "_"))"
            var file = Data(page)
            file.append(Data(count: 15 * pageSize))
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: file))
            do {
                let device = try SwapDevice.open(path: path, type: 1)
                defer { device.close() }
                XCTAssertNil(expected, "\(name) opened")
                XCTAssertEqual(
                    UInt32(device.slotCount - 1),
                    page.withUnsafeBytes {
                        $0.loadUnaligned(fromByteOffset: 1028, as: UInt32.self)
                    }, name)
                if name.hasPrefix("label 16") {
                    XCTAssertEqual(device.header.label, "0123456789abcdef")
                }
                if name.hasPrefix("label invalid") { XCTAssertFalse(device.header.label.isEmpty) }
                // An opened device works: a page round-trips through the cache.
                try cache.attachSwapDevice(device)
                let page = TestPages.random(seed: 9).bytes  // incompressible: goes to the device
                let entry = try page.withUnsafeBytes { try cache.swapOut(page: $0, type: 1) }
                var out = [UInt8](repeating: 0, count: pageSize)
                _ = try out.withUnsafeMutableBytes { try cache.swapIn(entry, into: $0) }
                XCTAssertEqual(out, page, name)
            } catch let error as SwapDeviceError {
                XCTAssertEqual(error, expected, name)
            }
        }
        // Pages stored before, and unrelated to, the bad files are intact.
        var out = [UInt8](repeating: 0, count: pageSize)
        XCTAssertTrue(
            try out.withUnsafeMutableBytes { try cache.frontswapLoad(type: 1, offset: 5, into: $0) }
        )
        XCTAssertEqual(out, kept)
    }

    /// Files whose size is not a whole number of pages, or too small.
    func testFileSizes() throws {
        let header = try goodHeader(lastPage: 15)
        func open(_ size: Int) -> Result<Int, SwapDeviceError> {
            let path = directory + "/size-\(size)"
            var file = Data(header.prefix(min(size, pageSize)))
            if size > pageSize { file.append(Data(count: size - pageSize)) }
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: file))
            do throws(SwapDeviceError) {
                let device = try SwapDevice.open(path: path)
                device.close()
                return .success(device.slotCount)
            } catch {
                return .failure(error)
            }
        }
        XCTAssertEqual(open(0), .failure(.tooSmall))
        XCTAssertEqual(open(100), .failure(.tooSmall))
        XCTAssertEqual(open(pageSize - 1), .failure(.tooSmall))
        XCTAssertEqual(open(pageSize), .failure(.tooSmall))
        XCTAssertEqual(open(pageSize + 1), .failure(.tooSmall))
        // last_page 15 needs 16 whole pages; a partial 16th page does not count.
        XCTAssertEqual(open(16 * pageSize - 1), .failure(.lastPageBeyondEnd))
        XCTAssertEqual(open(15 * pageSize + 100), .failure(.lastPageBeyondEnd))
        XCTAssertEqual(open(16 * pageSize), .success(16))
        XCTAssertEqual(open(16 * pageSize + 100), .success(16))
        XCTAssertEqual(open(64 * pageSize + 4095), .success(16))
    }

    /// A directory, a missing file and an unreadable path are typed I/O errors.
    func testPathsThatAreNotSwapFiles() throws {
        for path in [directory, directory + "/missing", "/proc/self/mem-nope"] {
            XCTAssertThrowsError(try SwapDevice.open(path: path)) {
                guard let error = $0 as? SwapDeviceError else { return XCTFail("\($0)") }
                switch error {
                case .io, .tooSmall: break
                default: XCTFail("\(path): \(error)")
                }
            }
        }
    }
}
