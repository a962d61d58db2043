// `zcache-sim run`: the simulated host over ZCache (the default subcommand).

import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ZCache
import ZCacheSim

#if canImport(Glibc)
    import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a host under memory pressure over zcache and a swap file (the default)."
    )

    @Option(
        help: "RAM in 4 KiB pages (zcache's pageframes come out of it); at most the machine's.")
    var ram = HostConfiguration().ramPages

    @Option(help: "Processes sharing the anonymous working set.")
    var processes = HostConfiguration().processes

    @Option(help: "Anonymous working set in pages, over all processes.")
    var workingSet = HostConfiguration().anonPages

    @Option(help: "File pages (page cache), over four files.")
    var filePages = HostConfiguration().filePages

    @Option(help: "Accesses to simulate (the length of the run).")
    var steps = HostConfiguration().steps

    @Option(
        help: "How anonymous pages are chosen: zipf, phased (a moving zipf hot set) or uniform.")
    var pattern = HostConfiguration().pattern

    @Option(help: "Fraction of anonymous accesses that write.")
    var writeRatio = HostConfiguration().writeRatio

    @Option(help: "Fraction of accesses that read files.")
    var fileShare = HostConfiguration().fileShare

    @Option(help: "The kernel's vm.swappiness, 0...200.")
    var swappiness = HostConfiguration().swappiness

    @Option(help: "Compressor: lz4, zlib or zstd.")
    var compressor = CompressorKind.lz4

    @Option(
        help: ArgumentHelp(
            "Shrinker policy, or all of them side by side.",
            valueName: PolicyChoice.allValueStrings.joined(separator: "|")))
    var policy = PolicyChoice.one(.seed)

    @Option(help: AllocatorChoice.help)
    var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

    @Flag(inversion: .prefixedNo, help: "Write persistent pages back to the swap file.")
    var writeback = true

    @Option(help: "Cap on outstanding writeback pages.")
    var writebackCap = 6400

    @Option(help: "zcache's pageframe pool (default: half of RAM).")
    var zcacheFrames: Int?

    @Flag(inversion: .prefixedNo, help: "zcache ignores puts of pages that were never active.")
    var nonactiveFilter = true

    @Option(
        help:
            "Swap file: an existing valid one is used as it is, otherwise one is created here (default: a temporary file)."
    )
    var swapFile: String?

    @Option(
        name: .long, parsing: .upToNextOption,
        help:
            "Page dumps (4096-byte pages, concatenated) to draw contents from (default: the built-in generator)."
    )
    var corpus: [String] = []

    @Option(help: "Seed of the workload and of the page contents.")
    var seed: UInt64 = 1

    @Option(
        help:
            "Write the inputs (version, command line, options) and each run's statistics as JSON to this file."
    )
    var json: String?

    @Option(
        help:
            "Write the final statistics as a Prometheus text exposition (swift-metrics through swift-prometheus) to this file."
    )
    var metrics: String?

    @Option(
        help:
            "Write a self-contained HTML report (time series sampled during the run, final counters) to this file."
    )
    var report: String?

    @Flag(
        help:
            "Run even if the swap file is too small for the working set (most swap-outs then fail); exit 0 if nothing is lost."
    )
    var allowSwapFull = false

    @OptionGroup var workload: WorkloadOptions

    @OptionGroup var remoteOptions: RemoteOptions

    var options: SimulationOptions {
        var o = SimulationOptions()
        o.host.ramPages = ram
        o.host.processes = processes
        o.host.anonPagesPerProcess = processes > 0 ? workingSet / processes : 0
        o.host.files = filePages > 0 ? 4 : 0
        o.host.pagesPerFile = max(1, filePages / 4)
        o.host.steps = steps
        o.host.pattern = pattern
        o.host.writeRatio = writeRatio
        o.host.fileShare = fileShare
        o.host.swappiness = swappiness
        o.host.seed = seed
        o.compressor = compressor
        o.policies = policy.policies
        o.allocators = allocator.allocators
        o.writeback = writeback
        o.writebackCap = writebackCap
        o.zcacheFrames = zcacheFrames
        o.nonActiveFilter = nonactiveFilter
        o.swapFile = swapFile
        o.corpus = corpus
        o.contentSeed = seed
        o.allowSwapFull = allowSwapFull
        workload.apply(to: &o)
        o.includeZCacheOff = policy.includesZCacheOff
        return o
    }

    /// Everything is checked before any work: the raw numbers here (the mapping
    /// onto processes and files would hide a negative or a remainder), the rest
    /// by `SimulationOptions.validate`, an existing swap file by opening it.
    func validate() throws {
        try UsageChecks.check {
            let maximum = SimulationOptions.maximumPages
            try OptionChecks.bounded(
                workingSet, 1...maximum, option: "--working-set", unit: "pages")
            try OptionChecks.bounded(
                processes, 1...max(1, workingSet), option: "--processes",
                limit: "--working-set, at least one page per process")
            try OptionChecks.bounded(filePages, 0...maximum, option: "--file-pages", unit: "pages")
            if let json { try OptionChecks.outputPath(json, option: "--json") }
            if let metrics { try OptionChecks.outputPath(metrics, option: "--metrics") }
            if let report { try OptionChecks.outputPath(report, option: "--report") }
            // Shared hosts run one configuration together; "all" would be
            // silently cut to its first policy and allocator.
            if remoteOptions.hosts > 1 {
                guard case .one = policy, case .one = allocator else {
                    throw ValidationError(
                        "--hosts \(remoteOptions.hosts) runs one policy under one allocator: "
                            + "name one --policy and one --allocator (not all or zcache-off)")
                }
            }
            let options = options
            try options.validate()
            try Simulation.checkSwapFile(options)
        }
    }

    func run() throws {
        // The tool, not the library, chooses the backends: log to standard error.
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var configured = self.options
        configured.logger = Logger(label: "zcache-sim")
        let remotes = try remoteOptions.connect()
        configured.remote = remotes?.first
        let options = configured
        let content: PageContentSource
        let trace: TraceWorkload?
        do {
            content = try Simulation.contentSource(options)
            trace = try Simulation.loadTrace(options)
        } catch {
            throw ValidationError(error.description)
        }
        // The host as the runs size it (for a trace: from its pages).
        let sized = options.sized(for: trace?.summary)
        let terminal = isatty(STDOUT_FILENO) == 1
        if let summary = trace?.summary {
            print(
                "zcache-sim: trace \(summary.path) (\(summary.format)): \(summary.references) "
                    + "references, \(summary.distinctPages) distinct pages")
        }
        // One measurement of the codec for every run, so they are priced alike.
        let costs = CostModel.measure(
            compressor: options.compressor, content: content,
            deviceLatencyMicros: options.deviceLatencyMicros)
        // Printed once the first run has its swap file open, so a reader of
        // this line knows the file is claimed.
        var headerPrinted = false
        let printHeader = {
            guard !headerPrinted else { return }
            headerPrinted = true
            print(
                "zcache-sim: RAM \(sized.host.ramPages) pages, \(sized.host.processes) processes, "
                    + "working set \(sized.host.anonPages) anon + \(sized.host.filePages) file pages, "
                    + "\(sized.host.steps) accesses, zcache \(sized.effectiveZCacheFrames) frames, "
                    + "\(options.compressor), contents: \(content.name)")
            print(Report.costLine(costs))
            fflush(nil)
        }
        // With --metrics, the tool collects metrics in a Prometheus registry.
        let registry = PrometheusCollectorRegistry()
        if metrics != nil { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
        let inputs = RunInputs(
            commandLine: CommandLine.arguments, options: sized, contents: content.name)

        if let remotes, remotes.count > 1 {
            printHeader()
            // `validate` let through one policy and one allocator.
            let hosts = try runSharedHosts(
                options, remotes: remotes, allocator: options.allocators[0],
                policy: options.policies[0], content: content, costs: costs)
            print(
                "\n\(hosts.count) hosts sharing \(remoteOptions.remote ?? ""), writeback to "
                    + "\(remoteOptions.remoteTarget):")
            print(Report.hostsTable(hosts.enumerated().map { ("host \($0.offset)", $0.element) }))
            if let json {
                try OptionChecks.write(
                    try Report.json(hosts, inputs: inputs), to: json, option: "--json")
            }
            if hosts.contains(where: { $0.lostPages > 0 }) { throw ExitCode(1) }
            return
        }
        var results: [SimulationResult] = []
        var reportRuns: [HTMLReport.Run] = []
        var failure: SimulationError?
        // Each policy under each allocator; zcache off once. A run under the
        // default allocator is named by its policy alone.
        let defaultAllocator = ZCacheConfiguration().allocator
        let runs = Simulation.runs(options).flatMap { policy in
            policy == nil
                ? [(policy, defaultAllocator)] : options.allocators.map { (policy, $0) }
        }
        for (policy, allocator) in runs {
            let label =
                policy.map {
                    allocator == defaultAllocator ? $0.rawValue : "\($0.rawValue)/\(allocator)"
                }
                ?? SimulationResult.zcacheOffName
            let bar = terminal ? ProgressBar(label: label) : nil
            let sampler = report != nil ? RunSampler() : nil
            do {
                let result = try Simulation.run(
                    options, policy: policy, allocator: allocator, content: content, trace: trace,
                    costs: costs, started: printHeader,
                    progress: bar.map { b in { b.show($0, $1) } }, sampler: sampler)
                bar?.clear()
                results.append(result)
                if let sampler {
                    reportRuns.append(.init(result: result, samples: sampler.samples))
                }
                if metrics != nil {
                    ZCacheMetrics(dimensions: [("policy", result.name)]).report(
                        result.statistics,
                        swapDevice: SwapDeviceFigures(
                            io: result.swapDevice, slotsInUse: result.swapSlotsInUse))
                }
                if runs.count == 1 { print(Report.table(result)) }
            } catch {
                bar?.clear()
                failure = error
                break
            }
        }
        if results.count > 1 {
            print(Report.sideBySide(results))
        }
        // The summary line is the last line of standard output whatever fails
        // after the runs; failures follow it on standard error.
        var jsonFailure: String?
        do {
            if let json, !results.isEmpty {
                try OptionChecks.write(
                    try Report.json(results, inputs: inputs), to: json, option: "--json")
            }
            if let metrics, !results.isEmpty {
                try OptionChecks.write(
                    Data(registry.emitToBuffer()), to: metrics, option: "--metrics")
            }
            if let report, !reportRuns.isEmpty {
                try OptionChecks.write(
                    Data(HTMLReport.render(reportRuns, inputs: inputs).utf8), to: report,
                    option: "--report")
            }
        } catch {
            jsonFailure = String(describing: error)
        }
        if !results.isEmpty { print(Report.lastLine(results)) }
        fflush(nil)
        if let failure { throw UsageChecks.fail(failure.description, status: 1) }
        if let jsonFailure { throw UsageChecks.fail(jsonFailure, status: 1) }
        if results.contains(where: { $0.lostPages > 0 }) { throw ExitCode(1) }
        if !allowSwapFull, let full = results.first(where: \.swapDeviceWasFull) {
            let stopped = full.stoppedAtStep.map {
                "stopped at step \($0) of \(sized.host.steps): "
            }
            throw UsageChecks.fail(
                "the swap file is too small for this run: \(stopped ?? "")"
                    + "\(full.host.swapOutFailures) swap-outs failed for want of a slot, "
                    + "\(full.host.swapOuts) succeeded; use a larger --swap-file, or --allow-swap-full",
                status: 2)
        }
    }
}

/// The options `run` and `sweep` share for real workloads and the cost model.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Replay this access trace (plain or gzip) instead of the synthetic pattern.")
    var trace: String?

    @Option(help: "The trace's format: address or lirs (default: guessed from its first line).")
    var traceFormat: TraceFormat?

    @Option(
        help:
            "RAM as a fraction of the workload's distinct pages (the trace's, or the synthetic working set's); overrides --ram."
    )
    var ramFraction: Double?

    @Option(help: "Latency of a device page read or write in the cost model, in microseconds.")
    var deviceLatencyUs = SimulationOptions().deviceLatencyMicros

    @Option(help: "zcache's pool limit, in percent of RAM (zswap's max_pool_percent).")
    var maxPoolPercent = SimulationOptions().maxPoolPercent

    @Option(
        help: "After the limit is hit, puts are refused until the pool is below this percent of it."
    )
    var acceptThresholdPercent = SimulationOptions().acceptThresholdPercent

    func apply(to o: inout SimulationOptions) {
        o.trace = trace
        o.traceFormat = traceFormat
        o.ramFraction = ramFraction
        o.deviceLatencyMicros = deviceLatencyUs
        o.maxPoolPercent = maxPoolPercent
        o.acceptThresholdPercent = acceptThresholdPercent
    }
}

extension SimulationError: LocalizedError {
    public var errorDescription: String? { description }
}
