// `zcache-sim microbench PART`: one layer on its own, one subcommand per part
// (each with its own --help).

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Microbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure one part on its own (zbud, zsmalloc, tmem, swap, writeback, swapin).",
        subcommands: [
            ZBudPart.self, ZSmallocPart.self, TMemPart.self, SwapPart.self, WritebackPart.self,
            SwapInPart.self,
        ])
}

/// The page files of the parts that use real pages.
struct MicrobenchCorpus: ParsableArguments {
    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Page files (4096-byte pages, concatenated); default: pages of system binaries.")
    var corpus: [String] = []

    func validate() throws {
        try UsageChecks.check { try OptionChecks.corpus(corpus) }
    }
}

extension Microbench {
    struct ZBudPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "zbud",
            abstract: "zbud packing against the offline optimum, and bud allocate+free cost.")

        @OptionGroup var pages: MicrobenchCorpus

        func run() throws { print(try ZBudMicrobenchmark.run(corpus: pages.corpus)) }
    }

    struct ZSmallocPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "zsmalloc",
            abstract:
                "zsmalloc pool utilization against the packing limit, zspage lengths, compaction, costs.")

        @OptionGroup var pages: MicrobenchCorpus

        func run() throws { print(try ZSmallocMicrobenchmark.run(corpus: pages.corpus)) }
    }

    struct TMemPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tmem",
            abstract: "TMem put, get and flush cost for dense and frontswap-swizzled keys.")

        func run() throws { print(try TMemMicrobenchmark.run(corpus: [])) }
    }

    struct SwapPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "swap",
            abstract: "Swap device write throughput (async path) against a plain pwrite loop.")

        @OptionGroup var pages: MicrobenchCorpus

        func run() throws { print(try SwapDeviceMicrobenchmark.run(corpus: pages.corpus)) }
    }

    struct WritebackPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "writeback",
            abstract: "zcache writeback throughput against bare device writes of the same pages.")

        @OptionGroup var pages: MicrobenchCorpus

        @Option(help: AllocatorChoice.help)
        var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

        func run() throws {
            for kind in allocator.allocators {
                print(try WritebackMicrobenchmark.run(corpus: pages.corpus, allocator: kind))
            }
        }
    }

    struct SwapInPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "swapin",
            abstract: "Swap-in from zcache against bare LZ4 decompression of the same pages.")

        @OptionGroup var pages: MicrobenchCorpus

        func run() throws { print(try SwapInMicrobenchmark.run(corpus: pages.corpus)) }
    }
}
