import Foundation
import XCTest

/// The `zcache-sim` binary's parsing and rejections. The command types live in
/// the executable target (the test target cannot import it: it does not depend
/// on ArgumentParser), so these tests run the binary `swift test` built next to
/// the test bundle and check its exit status and messages.
final class CommandLineTests: XCTestCase {
    var binary: URL {
        Bundle.main.bundleURL.appendingPathComponent("zcache-sim")
    }

    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            XCTFail("zcache-sim not built at \(binary.path)")
            return (-1, "")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testBadCompressorIsRejected() throws {
        let (status, output) = try run(["run", "--compressor", "lzma"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("lzma"), output)
        XCTAssertTrue(output.contains("lz4") && output.contains("zstd"), output)
        let bench = try run(["bench", "--corpus", "/dev/null", "--compressor", "brotli"])
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertTrue(bench.output.contains("brotli"), bench.output)
    }

    func testCorpusFileNotWholePagesIsRejected() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zcache-sim-cli-\(getpid()).pages"
        ).path
        try Data(repeating: 7, count: 3 * 4096 + 100).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        for arguments in [["run", "--corpus", path], ["bench", "--corpus", path]] {
            let (status, output) = try run(arguments)
            XCTAssertNotEqual(status, 0)
            XCTAssertTrue(output.contains("not a multiple of 4096"), output)
        }
    }

    func testUnreadableSwapFileIsRejected() throws {
        let (status, output) = try run(["run", "--swap-file", "/proc/self"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("--swap-file /proc/self"), output)
    }

    func testRAMBelowMinimumIsRejected() throws {
        let (status, output) = try run(["--ram", "100"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(output.contains("below the minimum of 256 pages"), output)
    }

    func testBadPolicyAndNonNumbersAreRejected() throws {
        let policy = try run(["run", "--policy", "never"])
        XCTAssertNotEqual(policy.status, 0)
        XCTAssertTrue(policy.output.contains("never"), policy.output)
        let ram = try run(["run", "--ram", "lots"])
        XCTAssertNotEqual(ram.status, 0)
        XCTAssertTrue(ram.output.contains("lots"), ram.output)
    }

    /// A tiny run through the default subcommand parses every option and ends
    /// with the verification line.
    func testATinyRunEndsWithTheVerificationLine() throws {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zcache-sim-cli-\(getpid()).json")
        defer { unlink(json.path) }
        let (status, output) = try run([
            "--ram", "512", "--working-set", "1200", "--file-pages", "200", "--steps", "20000",
            "--processes", "2", "--pattern", "zipf", "--compressor", "zstd", "--policy", "all",
            "--writeback-cap", "64", "--seed", "3", "--json", json.path,
        ])
        XCTAssertEqual(status, 0, output)
        let last = output.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("verified "), last)
        XCTAssertTrue(last.hasSuffix(", lost 0"), last)
        let object =
            try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any]
        let runs = object?["runs"] as? [[String: Any]]
        XCTAssertEqual(runs?.count, 4, "three shrinker policies and zcache off")
        XCTAssertNotNil(runs?.first?["verified_pages"])
        XCTAssertNotNil(runs?.first?["lost_pages"])
        XCTAssertNotNil((runs?.first?["statistics"] as? [String: Any])?["zcache"])
    }

    /// `run --trace` and `sweep`: a malformed line is a one-line error naming
    /// the line; a sweep prints a row per RAM fraction and JSON on request.
    func testTraceRunAndSweep() throws {
        let directory = FileManager.default.temporaryDirectory
        let good = directory.appendingPathComponent("zcache-sim-cli-\(getpid()).trace").path
        let bad = directory.appendingPathComponent("zcache-sim-cli-\(getpid())-bad.trace").path
        defer {
            unlink(good)
            unlink(bad)
        }
        var lines: [String] = []
        for i in 0..<3000 {
            lines.append(
                "\(i % 7 == 0 ? "s" : "l") 0x\(String((i * 7919 % 400) << 12, radix: 16)) 1")
        }
        try lines.joined(separator: "\n").write(toFile: good, atomically: true, encoding: .utf8)
        try "l 0x1000 1\nl 0x2000 1\nq 0x3000 1\n".write(
            toFile: bad, atomically: true, encoding: .utf8)

        let failed = try run(["run", "--trace", bad, "--ram-fraction", "0.5"])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.output.contains("\(bad):3:"), failed.output)

        let sweep = try run([
            "sweep", "--trace", good, "--ram-fraction", "0.3,0.6", "--policy", "all",
        ])
        XCTAssertEqual(sweep.status, 0, sweep.output)
        XCTAssertTrue(
            sweep.output.contains("zswap") && sweep.output.contains("zcache-off"), sweep.output)
        XCTAssertTrue(
            sweep.output.contains("    0.30") && sweep.output.contains("    0.60"), sweep.output)
        XCTAssertTrue(sweep.output.hasSuffix("lost 0\n"), sweep.output)

        let json = try run([
            "sweep", "--trace", good, "--ram-fraction", "0.5", "--policy", "zswap", "--json",
        ])
        XCTAssertEqual(json.status, 0, json.output)
        let object =
            try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let points = object?["points"] as? [[String: Any]]
        let runs = points?.first?["runs"] as? [[String: Any]]
        XCTAssertEqual(runs?.first?["name"] as? String, "zswap")
        XCTAssertEqual(runs?.first?["lost_pages"] as? Int, 0)
        XCTAssertEqual((object?["trace"] as? [String: Any])?["references"] as? Int, 3000)
    }
}
