import Foundation
import XCTest
import ZCache

@testable import ZCacheSim

/// The default scenario of `zcache-sim run`, shortened, over the real ZCache
/// and a temporary swap file.
final class SimulationTests: XCTestCase {
    /// The defaults scaled down (RAM, working set, files and length by 4) so a
    /// debug build runs it in seconds; the shape (ratios, pattern, pool size)
    /// is the default's.
    static func shortenedDefault() -> SimulationOptions {
        var o = SimulationOptions()
        o.host.ramPages /= 4
        o.host.anonPagesPerProcess /= 4
        o.host.pagesPerFile /= 4
        o.host.steps /= 4
        o.host.phaseLength /= 4
        return o
    }

    func testShortenedDefaultScenarioLosesNothingAndExercisesEverything() throws {
        let options = Self.shortenedDefault()
        let content = try Simulation.contentSource(options)
        let result = try Simulation.run(options, policy: .seed, content: content)
        let z = result.statistics.zcache
        XCTAssertEqual(result.lostPages, 0)
        XCTAssertGreaterThan(result.verifiedPages, 0)
        // Compression (pages stored in frames), zero pages, and poor pages refused.
        XCTAssertGreaterThan(result.statistics.allocator.persistent.objectsStoredTotal, 0)
        XCTAssertGreaterThan(z.zeroFilledPages, 0)
        XCTAssertGreaterThan(z.compressPoor, 0)
        // Eviction of ephemeral frames, writeback of persistent ones, the shrinker.
        XCTAssertGreaterThan(z.evictedEphPageframes, 0)
        XCTAssertGreaterThan(z.writtenbackPages, 0)
        XCTAssertGreaterThan(z.shrinkerScans, 0)
        // Swap-ins from zcache and from the device; cleancache hits.
        XCTAssertGreaterThan(result.host.swapInsFromCompressedCache, 0)
        XCTAssertGreaterThan(result.host.swapInsFromDevice, 0)
        XCTAssertGreaterThan(result.swapDevice.pagesRead, 0)
        XCTAssertGreaterThan(result.host.cleancacheHits, 0)
        // Every swap-out came back (in the run or in the final read-back).
        XCTAssertEqual(result.host.swapIns, result.host.swapOuts)
        XCTAssertLessThanOrEqual(z.outstandingWritebackPagesMax, options.writebackCap)
        XCTAssertTrue(result.frameAccountingHolds)
        XCTAssertEqual(result.swapSlotsInUse, 0)
        XCTAssertEqual(result.swapSlotBadFrees, 0)
    }

    func testOptionValidationRejectsBadValues() throws {
        var o = SimulationOptions()
        o.host.ramPages = SimulationOptions.minimumRAMPages - 1
        XCTAssertThrowsError(try o.validate()) { error in
            guard case SimulationError.ramTooSmall(255, minimum: 256) = error else {
                return XCTFail("\(error)")
            }
        }
        o = SimulationOptions()
        o.swapFile = FileManager.default.temporaryDirectory.path  // a directory
        XCTAssertThrowsError(try o.validate()) { error in
            guard case SimulationError.swapFileUnusable = error else { return XCTFail("\(error)") }
        }
        let odd = try temporaryFile(bytes: 4097)
        defer { unlink(odd) }
        o = SimulationOptions()
        o.corpus = [odd]
        XCTAssertThrowsError(try o.validate()) { error in
            guard case SimulationError.corpus(.notWholePages(odd, 4097)) = error else {
                return XCTFail("\(error)")
            }
        }
        o = SimulationOptions()
        o.zcacheFrames = o.host.ramPages
        XCTAssertThrowsError(try o.validate())
        XCTAssertNoThrow(try SimulationOptions().validate())
    }

    /// Library callers can set any number: products and sums that would
    /// overflow are errors, not traps; memory-sized values are bounded by the
    /// machine.
    func testValidationNeverOverflows() {
        let extremes = [Int.min, -1, 0, Int(Int32.max), Int.max / 2, Int.max]
        for processes in extremes {
            for perProcess in extremes {
                for pagesPerFile in extremes {
                    var o = SimulationOptions()
                    o.host.processes = processes
                    o.host.anonPagesPerProcess = perProcess
                    o.host.pagesPerFile = pagesPerFile
                    if (try? o.validate()) != nil {
                        XCTAssertLessThanOrEqual(
                            o.host.anonPages + o.host.filePages, SimulationOptions.maximumPages)
                    }
                }
            }
        }
        var o = SimulationOptions()
        o.host.ramPages = Int.max
        XCTAssertThrowsError(try o.validate()) {
            XCTAssertTrue("\($0)".contains("physical memory"), "\($0)")
        }
        o = SimulationOptions()
        o.host.writeRatio = .nan
        XCTAssertThrowsError(try o.validate()) {
            XCTAssertTrue("\($0)".contains("--write-ratio"), "\($0)")
        }
        o = SimulationOptions()
        o.zcacheFrames = Int.min
        XCTAssertThrowsError(try o.validate())
        o = SimulationOptions()
        o.writebackCap = Int.max
        XCTAssertThrowsError(try o.validate())
    }

    /// A file that is not a swap file is refused with the device's error, not
    /// overwritten.
    func testAForeignSwapFileIsRefusedAndLeftAlone() throws {
        let path = try temporaryFile(bytes: 16 * 4096, fill: 0x41)
        defer { unlink(path) }
        var o = Self.shortenedDefault()
        o.swapFile = path
        o.host.steps = 10
        XCTAssertThrowsError(try Simulation.run(o, policy: .seed, content: .generator(seed: 1))) {
            error in
            guard case SimulationError.swapDevice(path, _) = error else {
                return XCTFail("\(error)")
            }
        }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertTrue(bytes.allSatisfy { $0 == 0x41 })
    }

    func testOptimalPairingMatchesBruteForce() {
        var rng = SimRNG(seed: 5)
        for _ in 0..<200 {
            let chunks = (0..<rng.below(9)).map { _ in 1 + rng.below(63) }
            XCTAssertEqual(
                ZCacheBenchmark.optimalPairFrames(chunks: chunks), bruteForceFrames(chunks),
                "\(chunks)")
        }
    }

    /// The fewest frames by trying every pairing.
    func bruteForceFrames(_ chunks: [Int]) -> Int {
        guard let first = chunks.first else { return 0 }
        let rest = Array(chunks.dropFirst())
        var best = 1 + bruteForceFrames(rest)
        for (i, c) in rest.enumerated() where first + c <= 64 {
            var others = rest
            others.remove(at: i)
            best = min(best, 1 + bruteForceFrames(others))
        }
        return best
    }

    func temporaryFile(bytes: Int, fill: UInt8 = 0) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zcache-sim-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        ).path
        try Data(repeating: fill, count: bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
