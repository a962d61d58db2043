// `zcache-sim region`: a hash table in a ZCacheRegion (issue 17).

import ArgumentParser
import Foundation
import ZCache
import ZCacheRegion
import ZCacheSim

extension ReclaimPolicy: ExpressibleByArgument {}

struct Region: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "A memory image and a hash table in a userfaultfd region whose cold pages live in ZCache."
    )

    @Option(help: "Region size in pages.")
    var pages = 8192

    @Option(help: "Pages that may be mapped at once (default: pages / 8).")
    var resident: Int?

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Page files for the contents (default: the built-in generator).")
    var corpus: [String] = []

    @Option(help: "Hash-table lookups (half of present keys, half of absent ones).")
    var lookups = 200_000

    @Option(help: "Word accesses in the window phase (a drifting working set).")
    var windowAccesses = 2_000_000

    @Option(help: "Reclaim policy: clock or fifo.")
    var policy = ReclaimPolicy.clock

    @Flag(
        help:
            "Non-exclusive gets: a load leaves the zcache copy, so a page only read is dropped again without a store (costs the copies' memory)."
    )
    var keepCopies = false

    @Option(help: "Compressor: lz4, zlib or zstd.")
    var compressor = CompressorKind.lz4

    @Option(help: "ZCache's pageframe pool (default: as many as the region has pages).")
    var zcacheFrames: Int?

    @Option(help: "Swap file (default: a temporary one).")
    var swapFile: String?

    @Option(help: "Seed for the generator and the keys.")
    var seed: UInt64 = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        let memory = Machine.physicalMemoryPages
        let minimum = ZCacheRegionLimits.minimumResidentLimit
        try UsageChecks.check {
            try OptionChecks.bounded(
                pages, minimum...memory, option: "--pages", unit: "pages",
                limit: "this machine's physical memory")
            if let resident {
                try OptionChecks.bounded(
                    resident, minimum...pages, option: "--resident", unit: "pages",
                    limit: "the region's size")
            }
            if let zcacheFrames {
                try OptionChecks.bounded(
                    zcacheFrames, 1...memory, option: "--zcache-frames", unit: "pages",
                    limit: "this machine's physical memory")
            }
            try OptionChecks.bounded(lookups, 0...1_000_000_000, option: "--lookups")
            try OptionChecks.bounded(
                windowAccesses, 0...10_000_000_000, option: "--window-accesses")
            try OptionChecks.corpus(corpus)
        }
    }

    func run() throws {
        var options = RegionWorkloadOptions()
        options.pages = pages
        options.residentLimit = resident
        do {
            options.corpus = try BenchmarkPages.load(corpus: corpus)
        } catch {
            throw ValidationError("corpus: \(error)")
        }
        options.lookups = lookups
        options.windowAccesses = windowAccesses
        options.policy = policy
        options.exclusiveGets = !keepCopies
        options.compressor = compressor
        options.zcacheFrames = zcacheFrames
        options.swapFile = swapFile
        options.seed = seed
        let report: RegionWorkloadReport
        do {
            report = try RegionWorkload.run(options)
        } catch {
            FileHandle.standardError.write(Data("zcache-sim region: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(RegionWorkload.table(report))
        }
        if report.imagePagesWrong > 0 || report.valuesWrong > 0 || report.windowReadsWrong > 0
            || report.region.lostPages > 0
        {
            throw ExitCode(1)
        }
    }
}
