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
        XCTAssertEqual(runs?.count, 2)
        XCTAssertNotNil(runs?.first?["verified_pages"])
        XCTAssertNotNil(runs?.first?["lost_pages"])
        XCTAssertNotNil((runs?.first?["statistics"] as? [String: Any])?["zcache"])
    }
}
