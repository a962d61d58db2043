// Trace files: both formats, plain and gzip, format guessing, `*` markers,
// malformed lines reported with their line numbers; and short trace-driven
// runs over the real ZCache that lose nothing. The traces are generated here.

import CZlib
import Foundation
import XCTest
import ZCache

@testable import ZCacheSim

final class TraceTests: XCTestCase {
    var paths: [String] = []

    override func tearDown() {
        for path in paths { unlink(path) }
        paths = []
    }

    /// Writes `text` to a temporary file, gzip-compressed when `gzip`.
    func file(_ text: String, gzip: Bool = false) throws -> String {
        let path =
            NSTemporaryDirectory() + "zcache-trace-\(getpid())-\(paths.count)"
            + (gzip ? ".trace.gz" : ".trace")
        paths.append(path)
        if gzip {
            let handle = try XCTUnwrap(gzopen(path, "wb"))
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes {
                gzwrite(handle, $0.baseAddress, UInt32($0.count))
            }
            XCTAssertEqual(Int(written), bytes.count)
            XCTAssertEqual(gzclose(handle), Z_OK)
        } else {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return path
    }

    func references(_ path: String, format: TraceFormat? = nil) throws -> [TraceReference] {
        let reader = try TraceReader(path: path, format: format)
        var out: [TraceReference] = []
        while let reference = try reader.next() { out.append(reference) }
        return out
    }

    /// A program-like address trace: a loop over a few pages, a stack, and
    /// scattered heap accesses; stores about a third.
    static func addressTrace(references: Int, pages: Int, seed: UInt64) -> (
        String, [TraceReference]
    ) {
        var rng = SimRNG(seed: seed)
        var lines: [String] = []
        var expected: [TraceReference] = []
        for i in 0..<references {
            let page: Int =
                switch rng.below(3) {
                case 0: i % 8
                case 1: 8 + rng.below(4)
                default: 12 + rng.below(max(1, pages - 12))
                }
            let address = UInt64(page) << 12 | UInt64(rng.below(4096))
            let store = rng.below(3) == 0
            lines.append("\(store ? "s" : "l") 0x\(String(address, radix: 16)) \(1 + rng.below(9))")
            expected.append(TraceReference(page: UInt64(page), isWrite: store))
        }
        return (lines.joined(separator: "\n") + "\n", expected)
    }

    static func lirsTrace(references: Int, blocks: Int, seed: UInt64) -> (String, [TraceReference])
    {
        var rng = SimRNG(seed: seed)
        var lines: [String] = []
        var expected: [TraceReference] = []
        for i in 0..<references {
            if i % 500 == 0 { lines.append("*") }
            // Sequential runs and re-references of a hot set.
            let block = rng.below(2) == 0 ? i % blocks : rng.below(blocks / 5)
            lines.append("\(block)")
            expected.append(TraceReference(page: UInt64(block), isWrite: false))
        }
        return (lines.joined(separator: "\n"), expected)  // no final newline
    }

    func testAddressTracePlainAndGzipReadTheSame() throws {
        let (text, expected) = Self.addressTrace(references: 3000, pages: 200, seed: 7)
        for gzip in [false, true] {
            let path = try file(text, gzip: gzip)
            XCTAssertEqual(try references(path), expected, "gzip: \(gzip)")
            XCTAssertEqual(try TraceReader(path: path).format, .address)
        }
    }

    func testLirsTraceSkipsMarkersAndBlankLines() throws {
        let (text, expected) = Self.lirsTrace(references: 2000, blocks: 300, seed: 3)
        for gzip in [false, true] {
            let path = try file("\n" + text + "\n\n", gzip: gzip)
            XCTAssertEqual(try TraceReader(path: path).format, .lirs)
            XCTAssertEqual(try references(path), expected)
        }
        let marked = try file("*\n*\n  42 \n*\r\n7\r\n")
        XCTAssertEqual(try TraceReader(path: marked).format, .lirs, "a marker guesses lirs")
        XCTAssertEqual(try references(marked).map(\.page), [42, 7])
    }

    func testAddressLineVariants() throws {
        let path = try file("l 0x1fffff58 1\ns 1fffff50\n\tS-ignored\n")
        let reader = try TraceReader(path: path)
        XCTAssertEqual(try reader.next(), TraceReference(page: 0x1fffff58 >> 12, isWrite: false))
        XCTAssertEqual(try reader.next(), TraceReference(page: 0x1fffff50 >> 12, isWrite: true))
        XCTAssertThrowsError(try reader.next()) { error in
            XCTAssertEqual(
                error as? TraceError,
                .malformed(path, line: 3, text: "\tS-ignored", format: .address))
        }
    }

    func testMalformedLinesNameTheirLineNumber() throws {
        let cases: [(String, TraceFormat, Int)] = [
            ("l 0x10 1\nl 0x20 2\nl 0xZZ 3\n", .address, 3),
            ("l 0x10 1\n\nx 0x20 2\n", .address, 3),
            ("l 0x10 1\nl 0x20 two\n", .address, 2),
            ("l 0x10 1\nl\n", .address, 2),
            ("l 0x10000000000000000 1\n", .address, 1),
            ("1\n2\n*\n3 4\n", .lirs, 4),
            ("1\n2\n-3\n", .lirs, 3),
            ("5\n99999999999999999999999\n", .lirs, 2),
            ("5\n*x\n", .lirs, 2),
        ]
        for (text, format, line) in cases {
            for gzip in [false, true] {
                let path = try file(text, gzip: gzip)
                XCTAssertThrowsError(try references(path)) { error in
                    guard case .malformed(let p, let l, _, let f) = error as? TraceError else {
                        return XCTFail("\(error)")
                    }
                    XCTAssertEqual(
                        [p, "\(l)", f.rawValue], [path, "\(line)", format.rawValue], text)
                    XCTAssertTrue("\(error)".contains(":\(line):"), "\(error)")
                    XCTAssertFalse("\(error)".contains("\n"), "one line")
                }
                // The whole-trace scan reports the same error.
                XCTAssertThrowsError(try TraceWorkload(path: path))
            }
        }
    }

    func testFormatCannotBeGuessedOrFileMissing() throws {
        let path = try file("\n# a comment\n1\n")
        XCTAssertThrowsError(try TraceReader(path: path)) { error in
            XCTAssertEqual(error as? TraceError, .unknownFormat(path, line: 2, text: "# a comment"))
        }
        // An explicit format is taken as given: the comment is then malformed.
        XCTAssertThrowsError(try references(path, format: .lirs)) { error in
            XCTAssertEqual(
                error as? TraceError, .malformed(path, line: 2, text: "# a comment", format: .lirs))
        }
        let empty = try file("\n*\n\n")
        XCTAssertThrowsError(try TraceWorkload(path: empty)) { error in
            XCTAssertEqual(error as? TraceError, .empty(empty))
        }
        XCTAssertThrowsError(try TraceReader(path: "/nonexistent/trace.gz")) { error in
            guard case .unreadable = error as? TraceError else { return XCTFail("\(error)") }
        }
        let long = try file("l 0x10 1\n" + String(repeating: "9", count: 10_000) + "\n", gzip: true)
        XCTAssertThrowsError(try references(long)) { error in
            guard case .malformed(_, 2, _, _) = error as? TraceError else {
                return XCTFail("\(error)")
            }
        }
    }

    func testWorkloadSummaryCountsReferencesPagesAndWrites() throws {
        let (text, expected) = Self.addressTrace(references: 5000, pages: 300, seed: 11)
        let workload = try TraceWorkload(path: try file(text, gzip: true))
        XCTAssertEqual(workload.summary.references, expected.count)
        XCTAssertEqual(workload.summary.writes, expected.filter(\.isWrite).count)
        XCTAssertEqual(workload.summary.distinctPages, Set(expected.map(\.page)).count)
        // Dense numbering in first-touch order.
        var order: [UInt64] = []
        for reference in expected where !order.contains(reference.page) {
            order.append(reference.page)
        }
        XCTAssertEqual(order.map { workload.pageIndex[$0] }, order.indices.map { Int32($0) })
    }

    func testRamFractionSizesTheHostFromTheTrace() throws {
        let (text, _) = Self.lirsTrace(references: 1000, blocks: 400, seed: 1)
        let workload = try TraceWorkload(path: try file(text))
        var options = SimulationOptions()
        options.ramFraction = 0.5
        let sized = options.sized(for: workload.summary)
        XCTAssertEqual(sized.host.filePages, workload.summary.distinctPages)
        XCTAssertEqual(sized.host.anonPages, 0)
        XCTAssertEqual(sized.host.steps, 1000)
        XCTAssertEqual(
            sized.host.ramPages, Int((Double(workload.summary.distinctPages) * 0.5).rounded()))
        options.ramFraction = 0.01
        XCTAssertEqual(options.sized(for: workload.summary).host.ramPages, 32, "the floor")
        options.ramFraction = 0
        XCTAssertThrowsError(try options.sized(for: workload.summary).validate())
    }

    /// An address trace drives anonymous memory: every reference is an access,
    /// stores are writes, pages are swapped and verified, nothing is lost.
    func testAddressTraceRunLosesNothing() throws {
        let (text, expected) = Self.addressTrace(references: 20_000, pages: 600, seed: 5)
        let workload = try TraceWorkload(path: try file(text, gzip: true))
        var options = SimulationOptions()
        options.ramFraction = 0.3
        let content = try Simulation.contentSource(options)
        for policy in [ShrinkerPolicy.seed, .zswap, nil] {
            let result = try Simulation.run(
                options, policy: policy, content: content, trace: workload)
            XCTAssertEqual(result.lostPages, 0, "\(result.name)")
            XCTAssertEqual(result.host.steps, expected.count)
            XCTAssertEqual(result.host.anonAccesses, expected.count)
            XCTAssertEqual(result.host.writes, expected.filter(\.isWrite).count)
            XCTAssertEqual(result.host.fileAccesses, 0)
            XCTAssertGreaterThan(result.host.swapIns, 0)
            XCTAssertEqual(result.host.swapIns, result.host.swapOuts)
            XCTAssertGreaterThan(result.verifiedPages, 0)
            XCTAssertEqual(result.swapSlotsInUse, 0)
            XCTAssertTrue(result.frameAccountingHolds)
            XCTAssertEqual(
                result.ramPages, Int((Double(workload.summary.distinctPages) * 0.3).rounded()))
            if policy == nil {
                XCTAssertEqual(result.host.swapInsFromCompressedCache, 0, "zcache off")
                XCTAssertEqual(result.work.compressions, 0)
                XCTAssertEqual(result.work.deviceReads, result.workload.swapInsFromDevice)
                XCTAssertLessThan(
                    result.workload.swapIns, result.host.swapIns, "then the read-back")
            } else {
                XCTAssertGreaterThan(result.host.swapInsFromCompressedCache, 0)
            }
            XCTAssertEqual(
                result.work.seconds, result.costModel.time(of: result.work), accuracy: 1e-12)
        }
    }

    /// A LIRS trace drives file pages through the page cache and cleancache.
    func testLirsTraceRunLosesNothing() throws {
        let (text, expected) = Self.lirsTrace(references: 20_000, blocks: 900, seed: 9)
        let workload = try TraceWorkload(path: try file(text))
        var options = SimulationOptions()
        options.ramFraction = 0.3
        let content = try Simulation.contentSource(options)
        let result = try Simulation.run(options, policy: .zswap, content: content, trace: workload)
        XCTAssertEqual(result.lostPages, 0)
        XCTAssertEqual(result.host.fileAccesses, expected.count)
        XCTAssertEqual(result.host.anonAccesses, 0)
        XCTAssertGreaterThan(result.host.cleancacheHits, 0)
        XCTAssertEqual(result.verifiedPages, result.host.cleancacheHits)
        XCTAssertEqual(result.work.deviceReads, result.workload.fileReads)
        XCTAssertEqual(result.swapDevice.pagesRead, 0, "no anonymous memory, no swap")
        XCTAssertGreaterThan(result.work.deviceReads, 0)
    }
}
