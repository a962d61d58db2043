import Foundation
import XCTest
import ZCache
import ZCacheSim

#if canImport(FoundationXML)
    import FoundationXML
#endif

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

    /// `--metrics`, `--report` and `--json` from one run: every sample of the
    /// Prometheus file equals the statistic of the same name in the JSON file,
    /// for each policy; the report parses as XML and draws every series for
    /// every policy; the JSON records its inputs and uses snake_case keys only.
    func testMetricsReportAndJSONAgree() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "zcache-sim-cli-\(getpid())")
        let json = base.appendingPathExtension("json")
        let metrics = base.appendingPathExtension("prom")
        let report = base.appendingPathExtension("html")
        defer { for url in [json, metrics, report] { unlink(url.path) } }
        let (status, output) = try run([
            "run", "--ram", "512", "--working-set", "1200", "--file-pages", "200", "--steps",
            "15000", "--processes", "2", "--policy", "all", "--writeback-cap", "64",
            "--json", json.path, "--metrics", metrics.path, "--report", report.path,
        ])
        XCTAssertEqual(status, 0, output)

        // The JSON: inputs, then runs; every key snake_case.
        let object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        let inputs = try XCTUnwrap(object["inputs"] as? [String: Any])
        XCTAssertNotNil(inputs["version"])
        XCTAssertEqual((inputs["options"] as? [String: Any])?["writeback_cap"] as? Int, 64)
        XCTAssertTrue((inputs["command_line"] as? [String])?.contains("--metrics") ?? false)
        let runs = try XCTUnwrap(object["runs"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(runs.count, 2, "one run per policy")
        func keys(_ node: Any) -> [String] {
            if let d = node as? [String: Any] { return d.keys + d.values.flatMap(keys) }
            if let a = node as? [Any] { return a.flatMap(keys) }
            return []
        }
        for key in keys(object) {
            XCTAssertEqual(key, key.lowercased(), "camelCase key \(key)")
        }

        // The Prometheus text: `name{labels} value` lines.
        var samples: [String: Double] = [:]  // "name|policy" -> value
        for line in try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
        where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]),
                let brace = parts[0].firstIndex(of: "{"),
                let policy = parts[0].firstRange(of: "policy=\"").map({ range in
                    parts[0][range.upperBound...].prefix { $0 != "\"" }
                })
            else { return XCTFail("unparsed line \(line)") }
            samples["\(parts[0][..<brace])|\(policy)"] = value
        }
        var compared = 0
        for run in runs {
            // The run with zcache off has no policy; its metrics and series go by its name.
            let policy = run["policy"] as? String ?? SimulationResult.zcacheOffName
            let sections = try XCTUnwrap(run["statistics"] as? [String: [String: Any]])
            // Whole counts only: names, ratios and nested tables are not metrics.
            let statistics = sections.mapValues { section in
                section.filter { !ZCacheMetrics.ratios.contains($0.key) }.compactMapValues {
                    $0 as? Int
                }
            }
            let device = try XCTUnwrap(run["swap_device"] as? [String: Int])
            var expected: [String: Int] = [:]
            for (key, value) in statistics["zcache"] ?? [:] { expected["zcache_" + key] = value }
            for (key, value) in statistics["zbud"] ?? [:] { expected["zbud_" + key] = value }
            for (key, value) in statistics["frame_pool"] ?? [:] {
                expected["zcache_frame_pool_" + key] = value
            }
            for (key, value) in statistics["allocator"] ?? [:] {
                expected["zcache_allocator_" + key] = value
            }
            for (key, value) in device { expected["zcache_swap_device_" + key] = value }
            expected["zcache_swap_device_slots_in_use"] = run["swap_slots_in_use"] as? Int
            for (name, value) in expected {
                XCTAssertEqual(samples["\(name)|\(policy)"], Double(value), "\(name) \(policy)")
                compared += 1
            }
            if policy != SimulationResult.zcacheOffName {
                XCTAssertGreaterThan(statistics["zcache"]?["pers_zpages_max"] ?? 0, 0, policy)
            }
        }
        XCTAssertEqual(compared, samples.count, "no metric without a statistic")

        // The report: well-formed XML with every series once per policy.
        let parser = XMLParser(contentsOf: report)
        let collector = SeriesCollector()
        parser?.delegate = collector
        XCTAssertEqual(parser?.parse(), true, "\(parser?.parserError.map { "\($0)" } ?? "")")
        let policies = runs.map { $0["policy"] as? String ?? SimulationResult.zcacheOffName }
        for id in HTMLReport.seriesIDs where id != "writeback_cap" {
            for policy in policies {
                XCTAssertEqual(collector.paths["\(id)|\(policy)"], 1, "\(id) \(policy)")
            }
        }
        XCTAssertEqual(collector.paths["writeback_cap|"], 1)
        XCTAssertTrue(collector.text.contains("accesses simulated"))
        XCTAssertTrue(collector.text.contains("zcache.writtenback_pages"))
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
            "sweep", "--trace", good, "--ram-fraction", "0.5", "--policy", "zswap",
            "--allocator", "all", "--json",
        ])
        XCTAssertEqual(json.status, 0, json.output)
        let object =
            try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let points = object?["points"] as? [[String: Any]]
        let runs = points?.first?["runs"] as? [[String: Any]]
        // One run per allocator, the default's (zsmalloc) named by the policy alone.
        XCTAssertEqual(runs?.map { $0["name"] as? String }, ["zswap/zbud", "zswap"])
        XCTAssertEqual(runs?.map { $0["lost_pages"] as? Int }, [0, 0])
        XCTAssertEqual((object?["trace"] as? [String: Any])?["references"] as? Int, 3000)
    }
}

/// Counts `data-series` elements by (series, policy) and gathers the text.
private final class SeriesCollector: NSObject, XMLParserDelegate {
    var paths: [String: Int] = [:]
    var text = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        if let series = attributes["data-series"] {
            paths["\(series)|\(attributes["data-policy"] ?? "")", default: 0] += 1
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}
