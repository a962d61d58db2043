// Nothing in the library waits by spinning: no `sched_yield`, no sleeping for a
// fixed time in a loop, no loop around `tryLock`. Waiting goes through
// `WaitQueue` (`SwapEntryWaitTable` for swap entries), where the party that
// changes the state wakes the waiter.

import Foundation
import XCTest

final class NoSpinningTests: XCTestCase {
    /// The ways of waiting that burn CPU or depend on the scheduler's timing.
    static let forbidden: [(name: String, pattern: String)] = [
        ("sched_yield", #"\bsched_yield\s*\("#),
        ("pthread_yield", #"\bpthread_yield\s*\("#),
        ("usleep", #"\busleep\s*\("#),
        ("nanosleep", #"\bnanosleep\s*\("#),
        ("Thread.sleep", #"\bThread\.sleep\b"#),
        ("a tryLock loop", #"\bwhile\b[^{\n]*\btry[Ll]ock\s*\("#),
    ]

    /// Timed pauses that wait for nothing local, so no wake-up could end them
    /// (file under Sources, rule name): the remote tier's pause between rounds
    /// against a Redis cluster that is electing a new master.
    static let exempt: Set<String> = ["RemoteTier/RedisCluster.swift nanosleep"]

    /// The offending lines of `source` (comments removed), as "line: text".
    static func spinningLines(in source: String, file: String = "") throws -> [String] {
        let expressions = try forbidden.map { try NSRegularExpression(pattern: $0.pattern) }
        var found: [String] = []
        for (number, line) in source.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let code = String(line.split(separator: "//", maxSplits: 1).first ?? "")
            let range = NSRange(code.startIndex..., in: code)
            for (expression, rule) in zip(expressions, forbidden)
            where expression.firstMatch(in: code, range: range) != nil
                && !exempt.contains("\(file) \(rule.name)")
            {
                found.append(
                    "\(number + 1): \(rule.name): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        return found
    }

    func testTheCheckFindsEachWayOfSpinning() throws {
        let spinning = """
            while !page.tryLock() { sched_yield() }
            if done == 0 { usleep(50) }
            Thread.sleep(forTimeInterval: 0.001)
            pthread_yield()
            nanosleep(&time, nil)
            """
        XCTAssertEqual(try Self.spinningLines(in: spinning).count, 6)
        let fine = """
            if page.tryLock() { page.unlock() }  // usleep(1) in a comment is fine
            SwapEntryWaitTable.wait(on: entry) { !page.tryLock() }
            """
        XCTAssertEqual(try Self.spinningLines(in: fine), [])
    }

    func testNoSourceFileSpins() throws {
        // Tests/ZCacheTests/NoSpinningTests.swift -> the package root.
        let root = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: sources.path))
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        XCTAssertGreaterThan(files.count, 50, "found the package's Sources")
        var offenders: [String] = []
        for file in files {
            let text = try String(
                contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            offenders += try Self.spinningLines(in: text, file: file).map {
                "Sources/\(file):\($0)"
            }
        }
        XCTAssertEqual(offenders, [], "wait on a WaitQueue instead of spinning")
    }
}
