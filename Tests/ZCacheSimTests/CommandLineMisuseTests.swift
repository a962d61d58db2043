// Misuse of the real `zcache-sim` binary (issue 14): every bad option, input
// or output is refused before any work, in one line on standard error that
// names it, with a non-zero status, no backtrace, and no file left behind;
// a swap file in use by another process is refused and that process loses
// nothing; a run whose swap file is too small says so and exits 2.

import Foundation
import SwapDevice
import Synchronization
import XCTest
import ZCacheSim

#if canImport(Glibc)
    import Glibc
#endif

final class CommandLineMisuseTests: XCTestCase {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    var binary: URL { Bundle.main.bundleURL.appendingPathComponent("zcache-sim") }

    /// A fresh, empty directory (removed at teardown).
    func scratchDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("zcache-misuse-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Starts the binary with `TMPDIR` and the working directory set to
    /// `sandbox`, so anything it leaves behind is found there.
    func start(_ arguments: [String], sandbox: String, stdout: Any, stderr: Any) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: sandbox)
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = sandbox
        process.environment = environment
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        return process
    }

    /// Runs the binary to the end; output goes through files (no pipe can fill).
    func run(_ arguments: [String], sandbox: String) throws -> Outcome {
        let logs = try scratchDirectory("logs")
        let out = logs + "/stdout", err = logs + "/stderr"
        XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: nil))
        XCTAssertTrue(FileManager.default.createFile(atPath: err, contents: nil))
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        let process = try start(arguments, sandbox: sandbox, stdout: outHandle, stderr: errHandle)
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Outcome(
            status: process.terminationStatus,
            stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// What every refusal must look like.
    func assertRefusal(
        _ outcome: Outcome, status: Int32, mentions: String, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(outcome.status, status, "\(what): \(outcome.stderr)", file: file, line: line)
        let lines = outcome.stderr.split(separator: "\n")
        XCTAssertEqual(
            lines.count, 1, "\(what): not one line: \(outcome.stderr)", file: file, line: line)
        XCTAssertTrue(
            outcome.stderr.contains(mentions), "\(what): \(outcome.stderr)", file: file, line: line)
        for sign in ["Fatal error", "Stack dump", "backtrace", "Foundation.", "Swift/"] {
            XCTAssertFalse(
                outcome.stderr.contains(sign), "\(what): \(outcome.stderr)", file: file, line: line)
        }
    }

    func assertEmpty(
        _ directory: String, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let left = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? ["?"]
        XCTAssertEqual(left, [], "\(what) left files behind", file: file, line: line)
    }

    /// The table: arguments, expected exit status, a substring of the one-line
    /// error. Each runs in an empty sandbox that must stay empty.
    func testEveryMisuseIsOneLineBeforeAnyWork() throws {
        let inputs = try scratchDirectory("inputs")
        let empty = inputs + "/empty.pages"
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        let odd = inputs + "/odd.pages"
        XCTAssertTrue(FileManager.default.createFile(atPath: odd, contents: Data(count: 4096 + 1)))
        let missing = inputs + "/missing.pages"
        let notSwap = inputs + "/not.swap"
        XCTAssertTrue(
            FileManager.default.createFile(atPath: notSwap, contents: Data(count: 8 * 4096)))
        let tinySwap = inputs + "/tiny.swap"  // 9 slots, as a 40 KiB mkswap file has
        try SwapDevice.create(path: tinySwap, pages: 10).close()
        let noDirectory = inputs + "/no/such/dir/out.json"

        let cases: [([String], Int32, String)] = [
            (["--ram", "-1"], 64, "--ram -1 pages is below the minimum"),
            (["--ram=-1"], 64, "--ram -1 pages is below the minimum"),
            (["--ram", "100"], 64, "below the minimum of 256 pages"),
            (["--ram", "2251799813685248"], 64, "physical memory"),
            (["--ram", "1e8"], 64, "'1e8' is invalid for '--ram"),
            (["--working-set", "9223372036854775807"], 64, "--working-set must be between 1 and"),
            (["--working-set", "-5"], 64, "--working-set must be between 1 and"),
            (["--file-pages", "9223372036854775807"], 64, "--file-pages must be between 0 and"),
            (["--file-pages=-1"], 64, "--file-pages must be between 0 and"),
            (["--file-pages", "-1"], 64, "--file-pages must be between 0 and"),
            (["--processes", "0"], 64, "--processes must be between 1 and"),
            (["--processes", "9999999"], 64, "--processes must be between 1 and"),
            (["--steps", "-5"], 64, "--steps must be at least 0, got -5"),
            (["--write-ratio", "nan"], 64, "--write-ratio must be a fraction"),
            (["--file-share", "-0.5"], 64, "--file-share must be a fraction"),
            (["--swappiness", "-1"], 64, "--swappiness must be between 0 and 200"),
            (["--writeback-cap", "0"], 64, "--writeback-cap must be between 1 and"),
            (["--zcache-frames", "-3"], 64, "--zcache-frames must be between 1 and"),
            (["--seed", "-1"], 64, "'-1' is invalid for '--seed"),
            (["--json", noDirectory], 64, "--json \(noDirectory): directory"),
            (["--json", inputs], 64, "--json \(inputs): is a directory"),
            (["--json", "/dev/full"], 64, "--json /dev/full: not a regular file"),
            (["--swap-file", inputs], 64, "--swap-file \(inputs) is a directory"),
            (["--swap-file", notSwap], 64, "no SWAPSPACE2 signature"),
            (["--swap-file", tinySwap], 64, "--swap-file \(tinySwap) has 9 slots"),
            (["microbench", "bogus"], 64, "bogus"),
            // The remote options, refused before any connection is tried.
            (["--hosts", "2"], 64, "--hosts needs --remote"),
            (["--remote", "http://x"], 64, "--remote http://x is not redis://HOST:PORT"),
            (
                ["--remote", "redis://127.0.0.1:1", "--hosts", "0"], 64,
                "--hosts 0 is not in 1...64"
            ),
            (
                ["--remote", "redis://127.0.0.1:1", "--remote-replicas", "17"], 64,
                "--remote-replicas 17 is not in 0...16"
            ),
            (
                ["--remote", "redis://127.0.0.1:1", "--hosts", "2", "--policy", "all"], 64,
                "--hosts 2 runs one policy under one allocator"
            ),
            (
                ["--remote", "redis://127.0.0.1:1", "--hosts", "2", "--allocator", "all"], 64,
                "--hosts 2 runs one policy under one allocator"
            ),
            (
                ["--remote", "redis://127.0.0.1:1", "--hosts", "3", "--policy", "zcache-off"], 64,
                "--hosts 3 runs one policy under one allocator"
            ),
            (
                ["bench", "--corpus", odd, "--threads", "0"], 64,
                "--threads must be between 1 and 256"
            ),
        ]
        // The same corpus error and status from every subcommand.
        let corpusUsers = [
            ["run"], ["bench"], ["codecs"], ["microbench", "zbud"], ["microbench", "swap"],
            ["microbench", "writeback"],
        ]
        var all = cases
        for command in corpusUsers {
            all.append((command + ["--corpus", empty], 64, "--corpus \(empty): empty (no pages)"))
            all.append((command + ["--corpus", missing], 64, "--corpus \(missing): No such file"))
            all.append((command + ["--corpus", odd], 64, "size 4097 is not a multiple of 4096"))
        }
        for (arguments, status, message) in all {
            let sandbox = try scratchDirectory("sandbox")
            let outcome = try run(arguments, sandbox: sandbox)
            let what = arguments.joined(separator: " ")
            assertRefusal(outcome, status: status, mentions: message, what)
            XCTAssertEqual(outcome.stdout, "", "\(what): work started")
            assertEmpty(sandbox, what)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: noDirectory))
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: inputs).sorted(),
            ["empty.pages", "not.swap", "odd.pages", "tiny.swap"])
    }

    func testVersionAndPerPartHelp() throws {
        let sandbox = try scratchDirectory("sandbox")
        let version = try run(["--version"], sandbox: sandbox)
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let abstracts = [
            "zbud": "zbud packing", "tmem": "TMem put, get and flush", "swap": "Swap device write",
            "writeback": "zcache writeback throughput",
        ]
        for (part, abstract) in abstracts {
            let help = try run(["microbench", part, "--help"], sandbox: sandbox)
            XCTAssertEqual(help.status, 0, part)
            XCTAssertTrue(help.stdout.contains(abstract), "\(part): \(help.stdout)")
            XCTAssertTrue(help.stdout.contains("microbench \(part)"), "\(part): \(help.stdout)")
        }
        assertEmpty(sandbox, "--version and --help")
    }

    /// This process holds a swap file (with pages in it); `zcache-sim run` on
    /// the same file is refused naming this process, and the pages are intact.
    func testASwapFileHeldByAnotherProcessIsRefused() throws {
        let sandbox = try scratchDirectory("sandbox")
        let path = try scratchDirectory("swap") + "/shared.swap"
        let device = try SwapDevice.create(path: path, pages: 4096)
        defer { device.close() }
        let pages = (1...8).map { slot in
            PageBuffer(copying: [UInt8](repeating: UInt8(slot), count: 4096))!
        }
        try transfer(pages, device, write: true)

        let outcome = try run(
            ["--swap-file", path, "--ram", "512", "--working-set", "1000", "--steps", "1000"],
            sandbox: sandbox)
        assertRefusal(outcome, status: 64, mentions: "in use by process \(getpid())", "second user")
        assertEmpty(sandbox, "refused run")

        let back = (1...8).map { _ in PageBuffer() }
        try transfer(back, device, write: false)
        for (slot, page) in back.enumerated() {
            XCTAssertTrue(page.bytes.allSatisfy { $0 == UInt8(slot + 1) }, "slot \(slot + 1)")
        }
    }

    /// Two `zcache-sim run` processes on one swap file: the second is refused
    /// while the first runs, and the first loses nothing.
    func testTwoRunsOnOneSwapFile() throws {
        let sandbox = try scratchDirectory("sandbox")
        let path = try scratchDirectory("swap") + "/shared.swap"
        let arguments = [
            "--swap-file", path, "--ram", "512", "--working-set", "2000", "--file-pages", "200",
            "--steps", "20000",
        ]
        let firstOutput = Pipe()
        let first = try start(
            arguments, sandbox: sandbox, stdout: firstOutput, stderr: FileHandle.nullDevice)
        // The first line is printed once the first run has claimed the swap file.
        var firstText = ""
        while !firstText.contains("\n") {
            let chunk = firstOutput.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            firstText += String(decoding: chunk, as: UTF8.self)
        }
        XCTAssertTrue(firstText.hasPrefix("zcache-sim: RAM 512 pages"), firstText)

        let second = try run(arguments, sandbox: sandbox)
        assertRefusal(
            second, status: 64, mentions: "in use by process \(first.processIdentifier)",
            "second run")

        firstText += String(
            decoding: firstOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0, firstText)
        let last = firstText.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("verified "), last)
        XCTAssertTrue(last.hasSuffix(", lost 0"), last)
        assertEmpty(sandbox, "two runs")
    }

    /// Killed mid-run, a run leaves no temporary swap file: its name is gone
    /// as soon as it is open.
    func testATerminatedRunLeavesNothingBehind() throws {
        let sandbox = try scratchDirectory("sandbox")
        let output = Pipe()
        let process = try start(
            ["--ram", "512", "--working-set", "4000", "--steps", "100000000"], sandbox: sandbox,
            stdout: output, stderr: FileHandle.nullDevice)
        var text = ""
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        XCTAssertTrue(text.hasPrefix("zcache-sim: RAM 512 pages"), text)
        assertEmpty(sandbox, "a running run")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        assertEmpty(sandbox, "a killed run")
    }

    /// A swap file with just the slots the working set needs at the least
    /// (so it is accepted up front), yet most swap-outs fail: the run stops,
    /// prints its summary, and says why with exit status 2 unless
    /// --allow-swap-full. Nothing is lost either way.
    func testASwapFileTooSmallForTheRunIsNotAPass() throws {
        let sandbox = try scratchDirectory("sandbox")
        let path = try scratchDirectory("swap") + "/small.swap"
        var options = SimulationOptions()
        options.host.ramPages = 256
        options.host.processes = 1
        options.host.anonPagesPerProcess = 1000
        options.host.files = 0
        try SwapDevice.create(path: path, pages: options.minimumSwapSlots + 1).close()
        let arguments = [
            "--swap-file", path, "--ram", "256", "--processes", "1", "--working-set", "1000",
            "--file-pages", "0", "--steps", "20000",
        ]
        let refused = try run(arguments, sandbox: sandbox)
        assertRefusal(
            refused, status: 2, mentions: "swap file is too small for this run", "tight swap")
        XCTAssertTrue(refused.stderr.contains("--allow-swap-full"), refused.stderr)
        let last = refused.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("verified ") && last.hasSuffix(", lost 0"), last)
        assertEmpty(sandbox, "tight swap")
    }

    /// `--swap-file` smaller than the working set can ever need is refused up
    /// front; `--allow-swap-full` runs it anyway and passes if nothing is lost.
    func testAllowSwapFullRunsAnUndersizedSwapFile() throws {
        let sandbox = try scratchDirectory("sandbox")
        let path = try scratchDirectory("swap") + "/tiny.swap"
        try SwapDevice.create(path: path, pages: 10).close()
        let arguments = [
            "--swap-file", path, "--ram", "256", "--working-set", "600", "--file-pages", "0",
            "--steps", "500",
        ]
        assertRefusal(
            try run(arguments, sandbox: sandbox), status: 64, mentions: "has 9 slots", "tiny swap")
        let allowed = try run(arguments + ["--allow-swap-full"], sandbox: sandbox)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(allowed.stdout.hasSuffix(", lost 0\n"), allowed.stdout)
        assertEmpty(sandbox, "tiny swap")
    }

    /// Writes or reads `pages` at slots 1, 2, ... and waits for every completion.
    func transfer(_ pages: [PageBuffer], _ device: SwapDevice, write: Bool) throws {
        let failures = Atomic<Int>(0)
        for (index, page) in pages.enumerated() {
            let entry = try XCTUnwrap(SwapEntry(type: device.type, offset: UInt64(index + 1)))
            let completion: @Sendable (Result<Void, SwapIOError>) -> Void = {
                if case .failure = $0 { failures.add(1, ordering: .relaxed) }
            }
            if write {
                device.submitWrite(page, at: entry, completion: completion)
            } else {
                device.submitRead(into: page, at: entry, completion: completion)
            }
        }
        device.drain()
        XCTAssertEqual(failures.load(ordering: .relaxed), 0)
    }
}
