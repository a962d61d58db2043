// The full-stack model test (issue 9): ZCache with a small pageframe budget,
// writeback on, a slow and failing swap device, random pageframe allocation
// failures, the shrinker called often, both front ends and several threads,
// checked against a reference model (see FullStackSupport.swift).
//
//   ZCACHE_FULLSTACK_OPS=N    operations (default sized for a debug run)
//   ZCACHE_FULLSTACK_SEED=HEX the model's seed (printed by every run)
//
// A soak: ZCACHE_FULLSTACK_OPS=50000000 swift test -c release --filter FullStackModelTests

import Foundation
import XCTest

@testable import ZCache

/// Whether this process runs under a sanitizer (which makes everything several
/// times slower, so the default run is smaller there).
func runningUnderSanitizer() -> Bool {
    guard let handle = dlopen(nil, RTLD_NOW) else { return false }
    defer { dlclose(handle) }
    return dlsym(handle, "__asan_init") != nil || dlsym(handle, "__tsan_init") != nil
}

/// Runs one full-stack model run, prints its one-line summary and asserts it.
@discardableResult
func runFullStack(
    _ parameters: FullStackParameters, name: String, file: StaticString = #filePath,
    line: UInt = #line
)
    throws -> ZCacheStatistics.ZCacheCounters
{
    let start = Date()
    let run = try FullStackRun(parameters)
    let report = run.run()
    let seconds = Date().timeIntervalSince(start)
    let lost = report.pagesLost
    var sourceCounts: [String] = []
    for source in [ZCache.SwapInSource.zcache, .swapCache, .device] {
        let count: Int = report.swapInSources[source, default: 0]
        sourceCounts.append("\(source.rawValue) \(count)")
    }
    let sources = sourceCounts.joined(separator: ", ")
    let stats = run.cache.statistics.zcache
    print(
        "\(name): seed \(String(parameters.seed, radix: 16)), \(parameters.threads) threads, "
            + "\(report.operationsChecked) ops checked in \(String(format: "%.1f", seconds)) s, "
            + "\(report.pagesVerified) pages verified (swap-in: \(sources); cleancache hits "
            + "\(report.cleancacheHits), misses \(report.cleancacheMisses)), "
            + "\(report.checkpoints) checkpoints, \(report.shrinkerScans) shrinker scans, "
            + "written back \(stats.writtenbackPages), write errors \(stats.writebackWriteErrors), "
            + "faults \(run.faults.total) [\(run.faults.summary)], host pages lent "
            + "\(run.host.everLent.load(ordering: .relaxed)), pages lost \(lost)")
    for failure in report.failures.prefix(20) {
        XCTFail("\(failure) (seed \(String(parameters.seed, radix: 16)))", file: file, line: line)
    }
    XCTAssertEqual(report.pagesLost, 0, "pages lost", file: file, line: line)
    XCTAssertEqual(report.failures.count, 0, file: file, line: line)
    XCTAssertEqual(
        report.operationsChecked, parameters.operations / parameters.threads * parameters.threads,
        "every operation ran", file: file, line: line)
    // The run must actually have exercised what it claims to.
    XCTAssertGreaterThan(report.swapInSources[.zcache, default: 0], 0, file: file, line: line)
    XCTAssertGreaterThan(report.swapInSources[.device, default: 0], 0, file: file, line: line)
    XCTAssertGreaterThan(stats.writtenbackPages, 0, file: file, line: line)
    XCTAssertGreaterThan(report.cleancacheHits, 0, file: file, line: line)
    for kind in FullStackFault.allCases where kind != .writeBadSlot {
        XCTAssertGreaterThan(
            run.faults.count(kind), 0, "no \(kind) injected", file: file, line: line)
    }
    return stats
}

final class FullStackModelTests: XCTestCase {
    /// The CI-sized run: 1,000,000 operations (about 10 s in debug, 35 s under ASan).
    func testFullStackAgainstTheModel() throws {
        let defaultOps = 1_000_000
        try runFullStack(
            .fromEnvironment(defaultOperations: defaultOps, threads: 4), name: "FullStackModelTests"
        )
    }

    /// The same under zsmalloc and the per-entry LRU, shorter (300,000
    /// operations) to keep CI time in check.
    func testFullStackAgainstTheModelZSmalloc() throws {
        var parameters = FullStackParameters.fromEnvironment(
            defaultOperations: 300_000, threads: 4)
        parameters.allocator = .zsmalloc
        try runFullStack(parameters, name: "FullStackModelTests (zsmalloc)")
    }
}
