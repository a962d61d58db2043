// How runs are shown: a table of every statistic in kernel names, a side by
// side comparison of policies, the JSON file, and the last line.

import Foundation
import ZCache

/// Text and JSON renderings of simulation results.
public enum Report {
    /// `name value` rows of a Codable value's JSON form, sorted by name, with
    /// nested objects flattened as `section.name`.
    static func rows<T: Encodable>(_ value: T, prefix: String = "") -> [(String, String)] {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(value),
            let object = try? JSONSerialization.jsonObject(with: data)
        else { return [] }
        var out: [(String, String)] = []
        func walk(_ node: Any, _ path: String) {
            if let dictionary = node as? [String: Any] {
                for key in dictionary.keys.sorted() {
                    walk(dictionary[key]!, path.isEmpty ? key : "\(path).\(key)")
                }
            } else if node is [Any] {
                return  // per-class tables (zsmalloc's classes) are left to the JSON
            } else if let number = node as? NSNumber {
                out.append((path, number.stringValue))
            } else {
                out.append((path, "\(node)"))
            }
        }
        walk(object, prefix)
        return out
    }

    /// The full table of one run: zcache and zbud statistics in kernel names,
    /// then the host's and the swap device's counters.
    public static func table(_ result: SimulationResult) -> String {
        var lines: [String] = []
        lines.append(
            "policy \(result.name), compressor \(result.compressor.rawValue), "
                + String(format: "%.2f s", result.seconds))
        for (title, rows) in [
            ("zcache", rows(result.statistics.zcache)),
            ("zbud", rows(result.statistics.zbud)),
            ("frame pool", rows(result.statistics.framePool)),
            ("allocator", rows(result.statistics.allocator)),
            ("host", rows(result.host)),
            ("swap device", rows(result.swapDevice)),
        ] + remoteRows(result) {
            lines.append("")
            lines.append("[\(title)]")
            lines.append(contentsOf: columns(rows))
        }
        lines.append("")
        lines.append(
            "shrinker: evicted \(result.shrinkerEvicted) ephemeral frames, wrote back "
                + "\(result.shrinkerWrittenBack) persistent pages; forced pages max "
                + "\(result.forcedPagesMax); frame accounting "
                + (result.frameAccountingHolds ? "holds" : "BROKEN")
                + "; swap slots in use \(result.swapSlotsInUse), bad frees \(result.swapSlotBadFrees)"
        )
        return lines.joined(separator: "\n")
    }

    /// The remote tier's section, for a run that used one.
    static func remoteRows(_ result: SimulationResult) -> [(String, [(String, String)])] {
        let remote = result.statistics.remote
        guard remote.remoteRoundTrips > 0 else { return [] }
        return [("remote tier", rows(remote))]
    }

    /// Per simulated host sharing a remote tier: where its swap-ins came from
    /// (the workload's, before the final read-back) and what it stored remotely.
    public static func hostsTable(_ results: [(host: String, result: SimulationResult)]) -> String {
        var lines = [
            "host         swap-ins: zcache  swap cache  remote tier  disk    remote puts  remote MiB  lost"
        ]
        for (host, result) in results {
            let w = result.workload
            let r = result.statistics.remote
            lines.append(
                host.padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(
                        format: " %16d  %10d  %11d  %6d  %11d  %10.1f  %4d",
                        w.swapInsFromCompressedCache, w.swapInsFromSwapCache, w.swapInsFromRemote,
                        w.swapInsFromDevice, r.remotePuts, Double(r.remoteBytes) / 1_048_576,
                        result.lostPages))
        }
        return lines.joined(separator: "\n")
    }

    /// Lays `name value` rows out in two columns.
    static func columns(_ rows: [(String, String)]) -> [String] {
        let width = (rows.map { $0.0.count + $0.1.count }.max() ?? 0) + 2
        let cells = rows.map { name, value in
            name + String(repeating: " ", count: max(1, width - name.count - value.count)) + value
        }
        let half = (cells.count + 1) / 2
        return (0..<half).map { i in
            let left = cells[i].padding(toLength: width + 4, withPad: " ", startingAt: 0)
            return i + half < cells.count ? left + cells[i + half] : cells[i]
        }
    }

    /// Which way a line of the side-by-side table is better.
    enum Better { case lower, higher, neither }

    /// The policies side by side: what each did on the same scenario. On the
    /// lines where lower (or higher) is better, the best value is marked `*`.
    /// Reads, swap-ins and hits are the workload's (before the final read-back).
    public static func sideBySide(_ results: [SimulationResult]) -> String {
        let metrics: [(String, Better, (SimulationResult) -> Double, (Double) -> String)] = [
            ("device reads", .lower, { Double($0.work.deviceReads) }, integer),
            ("device writes", .lower, { Double($0.work.deviceWrites) }, integer),
            ("simulated seconds", .lower, { $0.work.seconds }, { String(format: "%.3f", $0) }),
            (
                "swap-ins from zcache", .higher, { Double($0.workload.swapInsFromCompressedCache) },
                integer
            ),
            (
                "swap-ins from swap cache", .neither, { Double($0.workload.swapInsFromSwapCache) },
                integer
            ),
            ("swap-ins from device", .lower, { Double($0.workload.swapInsFromDevice) }, integer),
            ("cleancache hits", .higher, { Double($0.workload.cleancacheHits) }, integer),
            ("file reads", .lower, { Double($0.workload.fileReads) }, integer),
            ("compressions", .neither, { Double($0.work.compressions) }, integer),
            ("decompressions", .neither, { Double($0.work.decompressions) }, integer),
            (
                "writtenback_pages", .neither, { Double($0.statistics.zcache.writtenbackPages) },
                integer
            ),
            (
                "shrinker_second_chances", .neither,
                { Double($0.statistics.zcache.shrinkerSecondChances) }, integer
            ),
            (
                "evicted_eph_pageframes", .neither,
                { Double($0.statistics.zcache.evictedEphPageframes) }, integer
            ),
            ("pool_limit_hit", .neither, { Double($0.statistics.zcache.poolLimitHit) }, integer),
            (
                "pers_pageframes_max", .neither, { Double($0.statistics.zcache.persPageframesMax) },
                integer
            ),
            (
                "eph_pageframes_max", .neither, { Double($0.statistics.zcache.ephPageframesMax) },
                integer
            ),
            (
                "frames in use at end", .neither, { Double($0.statistics.framePool.framesInUse) },
                integer
            ),
            (
                "outstanding_writeback_pages_max", .neither,
                { Double($0.statistics.zcache.outstandingWritebackPagesMax) }, integer
            ),
            ("verified pages", .neither, { Double($0.verifiedPages) }, integer),
            ("lost pages", .lower, { Double($0.lostPages) }, integer),
            ("wall seconds", .neither, { $0.seconds }, { String(format: "%.2f", $0) }),
        ]
        let nameWidth = metrics.map(\.0.count).max() ?? 0
        let columnWidth = max(14, (results.map { $0.name.count }.max() ?? 0) + 3)
        var lines = [
            "".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + results.map { leftPad($0.name + " ", columnWidth) }.joined()
        ]
        for (name, better, value, format) in metrics {
            let values = results.map(value)
            let best: Double? =
                switch better {
                case .lower: values.min()
                case .higher: values.max()
                case .neither: nil
                }
            // Marked only when the line tells the runs apart.
            let marks = results.count > 1 && Set(values).count > 1
            lines.append(
                name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                    + values.map { v in
                        leftPad(format(v) + (marks && v == best ? "*" : " "), columnWidth)
                    }.joined())
        }
        return lines.joined(separator: "\n")
    }

    static func integer(_ value: Double) -> String { String(Int(value)) }

    /// The cost model's prices, one line.
    public static func costLine(_ costs: CostModel) -> String {
        String(
            format: "cost model: compress %.0f ns/page, decompress %.0f ns/page (measured), "
                + "device read %.0f us, write %.0f us",
            costs.compressNanosPerPage, costs.decompressNanosPerPage, costs.deviceReadMicros,
            costs.deviceWriteMicros)
    }

    /// The JSON the `--json` file gets, one shape for one run or several:
    /// `{"inputs": {...}, "runs": [{...}, ...]}`, every key snake_case.
    public static func json(_ results: [SimulationResult], inputs: RunInputs) throws -> Data {
        struct File: Encodable {
            var inputs: RunInputs
            var runs: [SimulationResult]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(File(inputs: inputs, runs: results))
    }

    /// The last line of a run.
    public static func lastLine(_ results: [SimulationResult]) -> String {
        let verified = results.reduce(0) { $0 + $1.verifiedPages }
        let lost = results.reduce(0) { $0 + $1.lostPages }
        return "verified \(verified) pages, lost \(lost)"
    }

    static func leftPad(_ s: String, _ width: Int) -> String {
        s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
    }
}
