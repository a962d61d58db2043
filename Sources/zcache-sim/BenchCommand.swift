// `zcache-sim bench`: ZCache against the bare codec on the same pages.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bare codec against ZCache frontswap store/load on the same pages, and density.")

    @Option(
        name: .long, parsing: .upToNextOption, help: "Page files (4096-byte pages, concatenated).")
    var corpus: [String]

    @Option(help: "Compressor: lz4, zlib or zstd.")
    var compressor = CompressorKind.lz4

    @Option(help: AllocatorChoice.help)
    var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

    @Option(help: "Threads to split the pages over (for both measurements).")
    var threads = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard !corpus.isEmpty else { throw ValidationError("bench needs --corpus FILE...") }
        try UsageChecks.check {
            try OptionChecks.bounded(threads, 1...256, option: "--threads")
            try OptionChecks.corpus(corpus)
        }
    }

    func run() throws {
        let pages = try BenchmarkPages.load(corpus: corpus)
        // The Dictionary baselines first, before any other work has left freed
        // heap for them to reuse unseen.
        let dictionaryCosts = DensityBenchmark.dictionaryCosts(
            pages: pages, codecs: [compressor] + (compressor == .zstd ? [] : [.zstd]))
        // One run per allocator, on the same pages in this process.
        var mismatched = 0
        for (index, kind) in allocator.allocators.enumerated() {
            let report = try ZCacheBenchmark.run(
                pages: pages, compressor: compressor, allocator: kind, threads: threads,
                dictionaryCosts: dictionaryCosts)
            mismatched += report.mismatchedPages
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                if index > 0 { print("") }
                print(ZCacheBenchmark.table(report, corpus: corpus))
            }
        }
        if mismatched > 0 { throw ExitCode(1) }
    }
}
