// `zcache-sim microbench PART`: one layer on its own, one subcommand per part
// (each with its own --help).

import ArgumentParser
import Foundation
import RemoteTier
import ZCache
import ZCacheSim

#if canImport(Glibc)
    import Glibc
#endif

struct Microbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Measure one part on its own (zbud, zsmalloc, tmem, swap, writeback, swapin, remote).",
        subcommands: [
            ZBudPart.self, ZSmallocPart.self, TMemPart.self, SwapPart.self, WritebackPart.self,
            SwapInPart.self, RemotePart.self,
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
                "zsmalloc pool utilization against the packing limit, zspage lengths, compaction, costs."
        )

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

    struct RemotePart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remote",
            abstract:
                "Writeback to the remote tier against writeback to the swap file, and swap-in latency from each."
        )

        @OptionGroup var pages: MicrobenchCorpus

        @Option(help: "A node of the Redis Cluster (redis://127.0.0.1:PORT).")
        var remote: String

        @Option(help: "Replicas that must hold a page before it counts (WAIT).")
        var remoteReplicas = 0

        @Option(help: "Pages per pipelined remote batch.")
        var batchPages = 256

        @Option(help: AllocatorChoice.help)
        var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

        func run() throws {
            guard let seed = RedisNodeAddress(remote) else {
                throw ValidationError("--remote \(remote) is not redis://HOST:PORT")
            }
            var configuration = RedisCluster.Configuration(seeds: [seed])
            configuration.timeoutMilliseconds = 5000
            let cluster = try RedisCluster(configuration: configuration)
            for kind in allocator.allocators {
                print(
                    try RemoteMicrobenchmark.run(
                        corpus: pages.corpus, batchPages: batchPages, allocator: kind
                    ) { round in
                        var tier = RedisPageTier.Configuration(
                            namespace: "bench-\(getpid())-\(kind)-\(round)")
                        tier.replicas = remoteReplicas
                        tier.waitMilliseconds = 2000
                        return try RedisPageTier(cluster: cluster, configuration: tier)
                    })
            }
        }
    }

    struct SwapInPart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "swapin",
            abstract:
                "Swap-in from zcache, and the frontswap load alone, against bare LZ4 decompression of the same pages."
        )

        @OptionGroup var pages: MicrobenchCorpus

        @Option(help: AllocatorChoice.help)
        var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

        func run() throws {
            for kind in allocator.allocators {
                print(try SwapInMicrobenchmark.run(corpus: pages.corpus, allocator: kind))
            }
        }
    }
}
