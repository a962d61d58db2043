// `zcache-sim sweep`: one workload at several memory sizes under several
// policies: device reads and simulated time per policy per RAM fraction, as a
// table or JSON. Every run is a full `run` (verified, 0 lost pages required).

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a workload at several RAM fractions under several policies: device reads and simulated time."
    )

    @Option(help: "Replay this access trace (plain or gzip); default: the synthetic workload.")
    var trace: String?

    @Option(help: "The trace's format: address or lirs (default: guessed from its first line).")
    var traceFormat: TraceFormat?

    @Option(help: "RAM fractions of the workload's distinct pages, comma-separated.")
    var ramFraction = "0.3,0.5,0.7"

    @Option(
        help: ArgumentHelp(
            "Shrinker policy, zcache off, or all of them.",
            valueName: PolicyChoice.allValueStrings.joined(separator: "|")))
    var policy = PolicyChoice.all

    @Option(help: "Compressor: lz4, zlib or zstd.")
    var compressor = CompressorKind.lz4

    @Option(help: AllocatorChoice.help)
    var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Page dumps to draw contents from (default: the built-in generator).")
    var corpus: [String] = []

    @Option(help: "Seed of the page contents (and of the synthetic workload).")
    var seed: UInt64 = 1

    @Option(help: "Latency of a device page read or write in the cost model, in microseconds.")
    var deviceLatencyUs = SimulationOptions().deviceLatencyMicros

    @Option(help: "zcache's pool limit, in percent of RAM (zswap's max_pool_percent).")
    var maxPoolPercent = SimulationOptions().maxPoolPercent

    @Option(
        help: "After the limit is hit, puts are refused until the pool is below this percent of it."
    )
    var acceptThresholdPercent = SimulationOptions().acceptThresholdPercent

    @Option(
        name: .customLong("repeat"),
        help:
            "Run each cell this many times and keep the run with the median device reads (asynchronous I/O makes runs differ slightly)."
    )
    var repeatCount = 1

    @Flag(help: "Print JSON instead of the table.")
    var json = false

    var fractions: [Double] {
        get throws {
            let parts = ramFraction.split(separator: ",", omittingEmptySubsequences: false)
            return try parts.map { part in
                guard let value = Double(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--ram-fraction: \"\(part)\" is not a number")
                }
                return value
            }
        }
    }

    func options(fraction: Double) -> SimulationOptions {
        var o = SimulationOptions()
        o.trace = trace
        o.traceFormat = traceFormat
        o.ramFraction = fraction
        o.policies = policy.policies
        o.includeZCacheOff = policy.includesZCacheOff
        o.compressor = compressor
        o.allocators = allocator.allocators
        o.corpus = corpus
        o.contentSeed = seed
        o.host.seed = seed
        o.deviceLatencyMicros = deviceLatencyUs
        o.maxPoolPercent = maxPoolPercent
        o.acceptThresholdPercent = acceptThresholdPercent
        return o
    }

    func validate() throws {
        try UsageChecks.check {
            try OptionChecks.bounded(repeatCount, 1...1000, option: "--repeat", unit: "runs")
        }
        for fraction in try fractions {
            do {
                try options(fraction: fraction).validate()
            } catch {
                throw ValidationError(error.description)
            }
        }
    }

    func run() throws {
        let fractions = try fractions
        let first = options(fraction: fractions[0])
        let content: PageContentSource
        let workload: TraceWorkload?
        do {
            content = try Simulation.contentSource(first)
            workload = try Simulation.loadTrace(first)
        } catch {
            throw ValidationError(error.description)
        }
        let costs = CostModel.measure(
            compressor: compressor, content: content, deviceLatencyMicros: deviceLatencyUs)
        var points: [SweepPoint] = []
        for fraction in fractions {
            let options = options(fraction: fraction)
            var results: [SimulationResult] = []
            // Each policy under each allocator; zcache off once.
            let cells = Simulation.runs(options).flatMap { policy in
                policy == nil
                    ? [(policy, ZCacheAllocatorKind.zbud)] : options.allocators.map { (policy, $0) }
            }
            for (policy, allocator) in cells {
                var runs: [SimulationResult] = []
                for _ in 0..<repeatCount {
                    runs.append(
                        try Simulation.run(
                            options, policy: policy, allocator: allocator, content: content,
                            trace: workload, costs: costs))
                }
                if let lost = runs.first(where: { $0.lostPages > 0 }) {
                    results.append(lost)  // never hidden by the median
                } else {
                    results.append(
                        runs.sorted { $0.work.deviceReads < $1.work.deviceReads }[runs.count / 2])
                }
            }
            points.append(SweepPoint(ramFraction: fraction, results: results))
        }
        let sweep = SweepReport(trace: workload?.summary, costModel: costs, points: points)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(sweep), as: UTF8.self))
        } else {
            print(sweep.table)
            print(Report.costLine(costs))
            print(Report.lastLine(points.flatMap(\.results)))
        }
        if points.contains(where: { $0.results.contains { $0.lostPages > 0 } }) {
            throw ExitCode(1)
        }
    }
}
