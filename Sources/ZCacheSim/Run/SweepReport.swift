// What `zcache-sim sweep` shows: per RAM fraction, per run (policy or zcache
// off), the device reads and the simulated time, the best of each marked.

import Foundation

/// The runs at one RAM fraction.
public struct SweepPoint: Sendable {
    public var ramFraction: Double
    public var results: [SimulationResult]

    public init(ramFraction: Double, results: [SimulationResult]) {
        self.ramFraction = ramFraction
        self.results = results
    }
}

/// A whole sweep: a table, or JSON.
public struct SweepReport: Sendable, Encodable {
    public var trace: TraceSummary?
    public var costModel: CostModel
    public var points: [SweepPoint]

    public init(trace: TraceSummary?, costModel: CostModel, points: [SweepPoint]) {
        self.trace = trace
        self.costModel = costModel
        self.points = points
    }

    enum CodingKeys: String, CodingKey { case trace, costModel = "cost_model", points }

    /// One run's figures in the JSON.
    struct Row: Encodable {
        var name: String
        var ramPages: Int
        var deviceReads: Int
        var deviceWrites: Int
        var simulatedSeconds: Double
        var swapInsFromZCache: Int
        var writtenbackPages: Int
        var verifiedPages: Int
        var lostPages: Int
        var work: SimulatedWork

        enum CodingKeys: String, CodingKey {
            case name, ramPages = "ram_pages", deviceReads = "device_reads"
            case deviceWrites = "device_writes", simulatedSeconds = "simulated_seconds"
            case swapInsFromZCache = "swap_ins_from_zcache"
            case writtenbackPages = "writtenback_pages", verifiedPages = "verified_pages"
            case lostPages = "lost_pages", work
        }

        init(_ r: SimulationResult) {
            name = r.name
            ramPages = r.ramPages
            deviceReads = r.work.deviceReads
            deviceWrites = r.work.deviceWrites
            simulatedSeconds = r.work.seconds
            swapInsFromZCache = r.workload.swapInsFromCompressedCache
            writtenbackPages = r.statistics.zcache.writtenbackPages
            verifiedPages = r.verifiedPages
            lostPages = r.lostPages
            work = r.work
        }
    }

    struct Point: Encodable {
        var ramFraction: Double
        var runs: [Row]
        enum CodingKeys: String, CodingKey { case ramFraction = "ram_fraction", runs }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(trace, forKey: .trace)
        try c.encode(costModel, forKey: .costModel)
        try c.encode(
            points.map { Point(ramFraction: $0.ramFraction, runs: $0.results.map(Row.init)) },
            forKey: .points)
    }

    /// `fraction  RAM  | name: reads  seconds | ...`, the fewest reads and
    /// the least time of each fraction marked `*`.
    public var table: String {
        guard let names = points.first?.results.map(\.name) else { return "" }
        let width = max(22, (names.map(\.count).max() ?? 0) + 2)
        var header = "fraction   RAM"
        for name in names {
            header += " | " + name.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        var sub = "              "
        for _ in names {
            sub += " | " + "reads".leftPadded(10) + "  " + "sim s".leftPadded(width - 12)
        }
        var lines = [header, sub]
        for point in points {
            let reads = point.results.map(\.work.deviceReads)
            let seconds = point.results.map(\.work.seconds)
            let ram = point.results.first?.ramPages ?? 0
            var line = String(format: "%8.2f", point.ramFraction) + "\(ram)".leftPadded(6)
            for (r, s) in zip(reads, seconds) {
                let readCell = "\(r)" + (r == reads.min() && Set(reads).count > 1 ? "*" : " ")
                let timeCell =
                    String(format: "%.3f", s)
                    + (s == seconds.min() && Set(seconds).count > 1 ? "*" : " ")
                line += " | " + readCell.leftPadded(10) + "  " + timeCell.leftPadded(width - 12)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
