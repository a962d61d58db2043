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
            "policy \(result.policy.rawValue), allocator \(result.allocator.rawValue), "
                + "compressor \(result.compressor.rawValue), "
                + String(format: "%.2f s", result.seconds))
        for (title, rows) in [
            ("zcache", rows(result.statistics.zcache)),
            ("zbud", rows(result.statistics.zbud)),
            ("frame pool", rows(result.statistics.framePool)),
            ("allocator", rows(result.statistics.allocator)),
            ("host", rows(result.host)),
            ("swap device", rows(result.swapDevice)),
        ] {
            lines.append("")
            lines.append("[\(title)]")
            lines.append(contentsOf: columns(rows))
        }
        lines.append("")
        lines.append(
            "shrinker: evicted \(result.shrinkerEvicted) ephemeral frames, wrote back "
                + "\(result.shrinkerWrittenBack) persistent frames; forced pages max "
                + "\(result.forcedPagesMax); frame accounting "
                + (result.frameAccountingHolds ? "holds" : "BROKEN")
                + "; swap slots in use \(result.swapSlotsInUse), bad frees \(result.swapSlotBadFrees)"
        )
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

    /// The runs (policies, allocators) side by side: what each did on the same scenario.
    public static func sideBySide(_ results: [SimulationResult]) -> String {
        let metrics: [(String, (SimulationResult) -> String)] = [
            ("writtenback_pages", { "\($0.statistics.zcache.writtenbackPages)" }),
            ("evicted_eph_pageframes", { "\($0.statistics.zcache.evictedEphPageframes)" }),
            ("swap-ins from zcache", { "\($0.host.swapInsFromCompressedCache)" }),
            ("swap-ins from swap cache", { "\($0.host.swapInsFromSwapCache)" }),
            ("device reads", { "\($0.swapDevice.pagesRead)" }),
            ("device writes", { "\($0.swapDevice.pagesWritten)" }),
            ("pers_pageframes_max", { "\($0.statistics.zcache.persPageframesMax)" }),
            ("eph_pageframes_max", { "\($0.statistics.zcache.ephPageframesMax)" }),
            ("frames in use at end", { "\($0.statistics.framePool.framesInUse)" }),
            ("same_filled_pages_max", { "\($0.statistics.zcache.sameFilledPagesMax)" }),
            ("pages_compacted", { "\($0.statistics.zcache.pagesCompacted)" }),
            ("cleancache hits", { "\($0.host.cleancacheHits)" }),
            (
                "outstanding_writeback_pages_max",
                {
                    "\($0.statistics.zcache.outstandingWritebackPagesMax)"
                }
            ),
            ("verified pages", { "\($0.verifiedPages)" }),
            ("lost pages", { "\($0.lostPages)" }),
            ("seconds", { String(format: "%.2f", $0.seconds) }),
        ]
        let nameWidth = metrics.map(\.0.count).max() ?? 0
        let labels = columnLabels(results)
        let columnWidth = max(14, (labels.map(\.count).max() ?? 0) + 2)
        var lines = [
            "".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + labels.map { leftPad($0, columnWidth) }.joined()
        ]
        for (name, value) in metrics {
            lines.append(
                name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                    + results.map { leftPad(value($0), columnWidth) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// A column per run, named by what differs between the runs: the policy,
    /// the allocator, or both.
    static func columnLabels(_ results: [SimulationResult]) -> [String] {
        let allocators = Set(results.map(\.allocator))
        let policies = Set(results.map(\.policy))
        return results.map { result in
            if allocators.count <= 1 { return result.policy.rawValue }
            if policies.count <= 1 { return result.allocator.rawValue }
            return "\(result.policy.rawValue)/\(result.allocator.rawValue)"
        }
    }

    /// The JSON the `--json` file gets: one run's object, or `{"runs": [...]}`.
    public static func json(_ results: [SimulationResult]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if results.count == 1 { return try encoder.encode(results[0]) }
        return try encoder.encode(["runs": results])
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
