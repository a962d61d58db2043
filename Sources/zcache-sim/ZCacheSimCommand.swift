// The `zcache-sim` command line: `run` (the default) drives the simulated host
// over ZCache, `bench` measures ZCache against the bare codec, `codecs` and
// `microbench` look at one layer. All the work lives in the ZCacheSim library;
// this file maps flags onto it and prints.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

#if canImport(Glibc)
    import Glibc
#endif

@main
struct ZCacheSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zcache-sim",
        abstract: "Run the zcache compressed swap cache under simulated memory pressure.",
        subcommands: [Run.self, Bench.self, Codecs.self, Microbench.self],
        defaultSubcommand: Run.self)
}

extension CompressorKind: ExpressibleByArgument {}
extension AccessPattern: ExpressibleByArgument {}

/// `--policy`: one shrinker policy, or `all` of them side by side.
enum PolicyChoice: ExpressibleByArgument, Equatable {
    case one(ShrinkerPolicy)
    case all

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if let policy = ShrinkerPolicy(rawValue: argument) {
            self = .one(policy)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ShrinkerPolicy.allCases.map(\.rawValue) + ["all"] }

    /// Shown as the default in `--help`.
    var defaultValueDescription: String {
        switch self {
        case .one(let policy): policy.rawValue
        case .all: "all"
        }
    }

    var policies: [ShrinkerPolicy] {
        switch self {
        case .one(let policy): [policy]
        case .all: ShrinkerPolicy.allCases
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a host under memory pressure over zcache and a swap file (the default)."
    )

    @Option(help: "RAM in 4 KiB pages (zcache's pageframes come out of it).")
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

    @Option(help: "Write the statistics, verified_pages and lost_pages as JSON to this file.")
    var json: String?

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
        o.writeback = writeback
        o.writebackCap = writebackCap
        o.zcacheFrames = zcacheFrames
        o.nonActiveFilter = nonactiveFilter
        o.swapFile = swapFile
        o.corpus = corpus
        o.contentSeed = seed
        return o
    }

    func validate() throws {
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let options = options
        let content: PageContentSource
        do {
            content = try Simulation.contentSource(options)
        } catch {
            throw ValidationError(error.description)
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        print(
            "zcache-sim: RAM \(options.host.ramPages) pages, \(options.host.processes) processes, "
                + "working set \(options.host.anonPages) anon + \(options.host.filePages) file pages, "
                + "\(options.host.steps) accesses, zcache \(options.effectiveZCacheFrames) frames, "
                + "\(options.compressor), contents: \(content.name)")
        var results: [SimulationResult] = []
        for policy in options.policies {
            let bar = terminal ? ProgressBar(label: policy.rawValue) : nil
            let result: SimulationResult
            do {
                result = try Simulation.run(
                    options, policy: policy, content: content,
                    progress: bar.map { b in { b.show($0, $1) } })
            } catch {
                bar?.clear()
                throw error
            }
            bar?.clear()
            results.append(result)
            if options.policies.count == 1 {
                print(Report.table(result))
            }
        }
        if results.count > 1 {
            print(Report.sideBySide(results))
        }
        if let json {
            try Report.json(results).write(to: URL(fileURLWithPath: json))
        }
        print(Report.lastLine(results))
        if results.contains(where: { $0.lostPages > 0 }) { throw ExitCode(1) }
    }
}

extension SimulationError: LocalizedError {
    public var errorDescription: String? { description }
}

/// A one-line progress bar, redrawn in place (only on a terminal).
final class ProgressBar {
    let label: String
    var lastPercent = -1
    init(label: String) { self.label = label }

    func show(_ done: Int, _ total: Int) {
        let percent = total == 0 ? 100 : done * 100 / total
        guard percent != lastPercent else { return }
        lastPercent = percent
        let filled = percent * 40 / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 40 - filled)
        print("\r\(label) [\(bar)] \(percent)%", terminator: "")
        fflush(nil)
    }

    func clear() {
        print("\r" + String(repeating: " ", count: label.count + 50) + "\r", terminator: "")
        fflush(nil)
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bare codec against ZCache frontswap store/load on the same pages, and density.")

    @Option(
        name: .long, parsing: .upToNextOption, help: "Page files (4096-byte pages, concatenated).")
    var corpus: [String]

    @Option(help: "Compressor: lz4, zlib or zstd.")
    var compressor = CompressorKind.lz4

    @Option(help: "Threads to split the pages over (for both measurements).")
    var threads = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard !corpus.isEmpty else { throw ValidationError("bench needs --corpus FILE...") }
        guard (1...256).contains(threads) else {
            throw ValidationError("--threads must be between 1 and 256, got \(threads)")
        }
        for path in corpus {
            do {
                _ = try BenchmarkPages.load(corpus: [path])
            } catch {
                throw ValidationError("corpus: \(error)")
            }
        }
    }

    func run() throws {
        let pages = try BenchmarkPages.load(corpus: corpus)
        let report = try ZCacheBenchmark.run(pages: pages, compressor: compressor, threads: threads)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(ZCacheBenchmark.table(report, corpus: corpus))
        }
        if report.mismatchedPages > 0 { throw ExitCode(1) }
    }
}

struct Codecs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress and restore real pages with each codec; print sizes and throughput.")

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Page files (4096-byte pages, concatenated); default: pages of system binaries.")
    var corpus: [String] = []

    func run() throws {
        let pages =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        print(
            "pages: \(pages.count / 4096) from \(corpus.isEmpty ? "system binaries and libraries" : corpus.joined(separator: ", "))"
        )
        print("codec  pages  stored  ratio   compress p/s  decompress p/s  verified")
        for row in CodecDemo.run(pages: pages) {
            print(
                row.compressor.padding(toLength: 6, withPad: " ", startingAt: 0),
                String(row.pages).leftPad(6), String(row.compressedPages).leftPad(7),
                String(format: "%5.2fx", row.ratio).leftPad(7),
                String(format: "%.0f", row.compressPagesPerSecond).leftPad(14),
                String(format: "%.0f", row.decompressPagesPerSecond).leftPad(15),
                String(row.verified).leftPad(9))
        }
    }
}

struct Microbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure one part on its own (zbud, tmem, swap, writeback).")

    @Argument(help: "zbud, tmem, swap or writeback")
    var part: String

    @Option(
        name: .long, parsing: .upToNextOption, help: "Page files for parts that use real pages.")
    var corpus: [String] = []

    func run() throws {
        switch part {
        case "zbud": print(try ZBudMicrobenchmark.run(corpus: corpus))
        case "tmem": print(try TMemMicrobenchmark.run(corpus: corpus))
        case "swap": print(try SwapDeviceMicrobenchmark.run(corpus: corpus))
        case "writeback": print(try WritebackMicrobenchmark.run(corpus: corpus))
        default:
            throw ValidationError("unknown part '\(part)': expected zbud, tmem, swap or writeback")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
