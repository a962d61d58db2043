// `zcache-sim run --report FILE`: one self-contained HTML file (inline SVG and
// CSS, no script, no network) that shows what happened during a run.
//
//   header      the inputs (scenario, options, version)
//   charts      one <svg> per chart; x = accesses simulated, y = the chart's unit
//               each series is a <path data-series=ID data-policy=POLICY>;
//               policies share the axes and differ by dash pattern
//   table       every final statistic, one column per policy
//
// The document is well-formed XML (XHTML syntax), so a test can parse it and
// find every series by its id.

import Foundation
import ZCache

/// Renders runs and their samples as one HTML page.
public enum HTMLReport {
    /// One run: its result and the samples taken during it.
    public struct Run: Sendable {
        /// The run's final figures.
        public var result: SimulationResult
        /// The samples taken during the run, in step order.
        public var samples: [RunSample]

        /// Pairs a result with its samples.
        public init(result: SimulationResult, samples: [RunSample]) {
            self.result = result
            self.samples = samples
        }
    }

    /// One line on a chart.
    struct Series {
        var id: String
        var label: String
        var color: String
        var value: (RunSample) -> Double
    }

    /// One chart: its series share the y axis and its unit.
    struct Chart {
        var id: String
        var title: String
        var unit: String
        var series: [Series]
        /// A horizontal line drawn across the chart (the writeback cap).
        var limit: (id: String, label: String, value: Double)? = nil
    }

    static let mebibyte = 1_048_576.0

    /// The charts of a report, given the writeback cap.
    static func charts(writebackCap: Int) -> [Chart] {
        [
            Chart(
                id: "ram", title: "RAM use by kind", unit: "pages",
                series: [
                    Series(id: "ram_anon", label: "anonymous (resident)", color: "#1f77b4") {
                        Double($0.ramAnon)
                    },
                    Series(id: "ram_file", label: "page cache (file)", color: "#2ca02c") {
                        Double($0.ramFile)
                    },
                    Series(id: "ram_zcache", label: "zcache pageframes", color: "#d62728") {
                        Double($0.ramZCache)
                    },
                    Series(id: "ram_writeback", label: "taken by writeback", color: "#9467bd") {
                        Double($0.ramWriteback)
                    },
                    Series(id: "ram_free", label: "free", color: "#7f7f7f") { Double($0.ramFree) },
                ]),
            Chart(
                id: "pageframes", title: "zcache pageframes by pool kind", unit: "pageframes",
                series: [
                    Series(id: "eph_pageframes", label: "ephemeral (cleancache)", color: "#ff7f0e")
                    { Double($0.ephPageframes) },
                    Series(id: "pers_pageframes", label: "persistent (frontswap)", color: "#1f77b4")
                    { Double($0.persPageframes) },
                ]),
            Chart(
                id: "zbytes", title: "Compressed bytes stored", unit: "MiB",
                series: [
                    Series(id: "eph_zbytes", label: "ephemeral", color: "#ff7f0e") {
                        Double($0.ephZBytes) / mebibyte
                    },
                    Series(id: "pers_zbytes", label: "persistent", color: "#1f77b4") {
                        Double($0.persZBytes) / mebibyte
                    },
                ]),
            Chart(
                id: "writeback", title: "Outstanding writeback against its cap", unit: "pages",
                series: [
                    Series(
                        id: "outstanding_writeback_pages", label: "outstanding writeback",
                        color: "#9467bd"
                    ) { Double($0.outstandingWriteback) }
                ],
                limit: ("writeback_cap", "cap (\(writebackCap))", Double(writebackCap))),
            Chart(
                id: "swapins", title: "Swap-ins by source (cumulative)", unit: "swap-ins",
                series: [
                    Series(id: "swap_ins_from_zcache", label: "from zcache", color: "#d62728") {
                        Double($0.swapInsZCache)
                    },
                    Series(
                        id: "swap_ins_from_swap_cache", label: "from the swap cache",
                        color: "#2ca02c"
                    ) { Double($0.swapInsSwapCache) },
                    Series(
                        id: "swap_ins_from_device", label: "from the swap device", color: "#8c564b"
                    ) { Double($0.swapInsDevice) },
                ]),
            Chart(
                id: "shrinker", title: "Shrinker scans and writeback (cumulative)", unit: "count",
                series: [
                    Series(id: "shrinker_scans", label: "shrinker scans", color: "#17becf") {
                        Double($0.shrinkerScans)
                    },
                    Series(id: "writtenback_pages", label: "pages written back", color: "#9467bd") {
                        Double($0.writtenbackPages)
                    },
                ]),
        ]
    }

    /// Every series id a report has (the charts' series and the cap line).
    public static var seriesIDs: [String] {
        charts(writebackCap: 0).flatMap { chart in
            chart.series.map(\.id) + (chart.limit.map { [$0.id] } ?? [])
        }
    }

    /// Dash patterns that tell policies apart on shared axes.
    static let dashes = ["", "7 4", "2 3", "10 3 2 3"]

    /// The whole page.
    public static func render(_ runs: [Run], inputs: RunInputs) -> String {
        var html = """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>zcache-sim run report</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 20px; } h2 { font-size: 16px; margin: 4px 0; }
            .chart { display: inline-block; vertical-align: top; margin: 0 24px 24px 0; }
            table { border-collapse: collapse; font-size: 12px; }
            td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
            td:first-child, th:first-child { text-align: left; font-family: monospace; }
            .inputs td { text-align: left; }
            svg text { font-size: 11px; fill: #222; }
            </style>
            </head>
            <body>
            <h1>zcache-sim run report</h1>

            """
        html += "<table class=\"inputs\">\n"
        for (name, value) in inputs.summary {
            html += "<tr><td>\(escape(name))</td><td>\(escape(value))</td></tr>\n"
        }
        html += "</table>\n"
        let charts = charts(writebackCap: inputs.options.writebackCap)
        for chart in charts {
            html += "<div class=\"chart\" id=\"chart-\(chart.id)\">\n"
            html += "<h2>\(escape(chart.title))</h2>\n"
            html += svg(chart, runs)
            html += "</div>\n"
        }
        html += "<h2>Final counters</h2>\n"
        html += counterTable(runs.map(\.result))
        html += "</body>\n</html>\n"
        return html
    }

    // MARK: Charts

    static let width = 620.0, height = 300.0
    static let left = 70.0, right = 16.0, top = 12.0, bottom = 44.0

    static func svg(_ chart: Chart, _ runs: [Run]) -> String {
        let plotWidth = width - left - right
        let legendRows =
            chart.series.count + (chart.limit == nil ? 0 : 1)
            + (runs.count > 1 ? runs.count : 0)
        let legendHeight = Double(legendRows) * 16 + 8
        let totalHeight = height + legendHeight
        let plotHeight = height - top - bottom
        let maxStep = Double(runs.flatMap(\.samples).map(\.step).max() ?? 1)
        var maxValue =
            runs.flatMap { run in
                run.samples.flatMap { sample in chart.series.map { $0.value(sample) } }
            }.max() ?? 0
        if let limit = chart.limit { maxValue = max(maxValue, limit.value) }
        let xTicks = ticks(upTo: max(1, maxStep))
        let yTicks = ticks(upTo: maxValue > 0 ? maxValue : 1)
        let xMax = xTicks.last ?? 1, yMax = yTicks.last ?? 1
        func x(_ step: Double) -> Double { left + step / xMax * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value / yMax * plotHeight }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(fmt(width))" height="\(fmt(totalHeight))" \
            viewBox="0 0 \(fmt(width)) \(fmt(totalHeight))" role="img" aria-label="\(escape(chart.title))">

            """
        // Grid, ticks and axis labels.
        for t in yTicks {
            out +=
                "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y(t)))\" x2=\"\(fmt(left + plotWidth))\" y2=\"\(fmt(y(t)))\" stroke=\"#e4e4e4\"/>\n"
            out +=
                "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y(t) + 4))\" text-anchor=\"end\">\(tickLabel(t))</text>\n"
        }
        for t in xTicks {
            out +=
                "<line x1=\"\(fmt(x(t)))\" y1=\"\(fmt(top + plotHeight))\" x2=\"\(fmt(x(t)))\" y2=\"\(fmt(top + plotHeight + 4))\" stroke=\"#444\"/>\n"
            out +=
                "<text x=\"\(fmt(x(t)))\" y=\"\(fmt(top + plotHeight + 17))\" text-anchor=\"middle\">\(tickLabel(t))</text>\n"
        }
        out +=
            "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(plotWidth))\" height=\"\(fmt(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        out +=
            "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(fmt(top + plotHeight + 36))\" text-anchor=\"middle\">accesses simulated</text>\n"
        out +=
            "<text transform=\"translate(16 \(fmt(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(chart.unit))</text>\n"
        // The cap, then the series, one path per (series, policy).
        if let limit = chart.limit {
            out +=
                "<line data-series=\"\(limit.id)\" x1=\"\(fmt(left))\" y1=\"\(fmt(y(limit.value)))\" x2=\"\(fmt(left + plotWidth))\" y2=\"\(fmt(y(limit.value)))\" stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"1 3\"/>\n"
        }
        for (index, run) in runs.enumerated() {
            let dash = dashes[index % dashes.count]
            for series in chart.series {
                let points = run.samples.map {
                    "\(fmt(x(Double($0.step)))) \(fmt(y(series.value($0))))"
                }
                guard !points.isEmpty else { continue }
                let d = "M " + points.joined(separator: " L ")
                out +=
                    "<path data-series=\"\(series.id)\" data-policy=\"\(run.result.name)\" d=\"\(d)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.6\""
                    + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") + "/>\n"
            }
        }
        // Legend: colours for the series (and the cap), dashes for the policies.
        var legendY = height + 4
        func legendLine(_ color: String, _ dash: String, _ label: String) {
            out +=
                "<line x1=\"\(fmt(left))\" y1=\"\(fmt(legendY))\" x2=\"\(fmt(left + 28))\" y2=\"\(fmt(legendY))\" stroke=\"\(color)\" stroke-width=\"2\""
                + (dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") + "/>\n"
            out +=
                "<text x=\"\(fmt(left + 36))\" y=\"\(fmt(legendY + 4))\">\(escape(label))</text>\n"
            legendY += 16
        }
        for series in chart.series {
            let peak = runs.flatMap(\.samples).map(series.value).max() ?? 0
            legendLine(series.color, "", "\(series.label) (peak \(tickLabel(peak.rounded())))")
        }
        if let limit = chart.limit { legendLine("#000", "1 3", limit.label) }
        if runs.count > 1 {
            for (index, run) in runs.enumerated() {
                legendLine(
                    "#444", dashes[index % dashes.count], "policy \(run.result.name)")
            }
        }
        out += "</svg>\n"
        return out
    }

    /// Round tick values from 0 to at least `maximum`: steps of 1, 2 or 5 times a power of ten.
    static func ticks(upTo maximum: Double) -> [Double] {
        let rough = maximum / 5
        let magnitude = pow(10, floor(log10(rough)))
        let step =
            [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let count = Int((maximum / step).rounded(.up))
        return (0...max(1, count)).map { Double($0) * step }
    }

    static func tickLabel(_ value: Double) -> String {
        switch abs(value) {
        case 1e6...: return trimmed(value / 1e6) + "M"
        case 1e4...: return trimmed(value / 1e3) + "k"
        default: return trimmed(value)
        }
    }

    static func trimmed(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2g", value)
    }

    static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }

    // MARK: The final table

    static func counterTable(_ results: [SimulationResult]) -> String {
        var out = "<table class=\"counters\">\n<tr><th>statistic</th>"
        for result in results { out += "<th>\(escape(result.name))</th>" }
        out += "</tr>\n"
        let sections: [(String, (SimulationResult) -> [(String, String)])] = [
            ("zcache", { Report.rows($0.statistics.zcache) }),
            ("zbud", { Report.rows($0.statistics.zbud) }),
            ("frame_pool", { Report.rows($0.statistics.framePool) }),
            ("host", { Report.rows($0.host) }),
            ("swap_device", { Report.rows($0.swapDevice) }),
        ]
        for (section, rows) in sections {
            let columns = results.map(rows)
            for (index, (name, _)) in (columns.first ?? []).enumerated() {
                out += "<tr><td>\(escape(section)).\(escape(name))</td>"
                for column in columns {
                    out += "<td>\(escape(index < column.count ? column[index].1 : ""))</td>"
                }
                out += "</tr>\n"
            }
        }
        out += "</table>\n"
        return out
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
