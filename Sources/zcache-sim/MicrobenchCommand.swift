// `zcache-sim microbench PART`: one layer on its own.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Microbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure one part on its own (zbud, zsmalloc, tmem, swap, writeback).")

    @Argument(help: "zbud, zsmalloc, tmem, swap or writeback")
    var part: String

    @Option(
        name: .long, parsing: .upToNextOption, help: "Page files for parts that use real pages.")
    var corpus: [String] = []

    @Option(help: AllocatorChoice.help)
    var allocator = AllocatorChoice.one(ZCacheConfiguration().allocator)

    func run() throws {
        switch part {
        case "zbud": print(try ZBudMicrobenchmark.run(corpus: corpus))
        case "zsmalloc": print(try ZSmallocMicrobenchmark.run(corpus: corpus))
        case "tmem": print(try TMemMicrobenchmark.run(corpus: corpus))
        case "swap": print(try SwapDeviceMicrobenchmark.run(corpus: corpus))
        case "writeback":
            for kind in allocator.allocators {
                print(try WritebackMicrobenchmark.run(corpus: corpus, allocator: kind))
            }
        default:
            throw ValidationError("unknown part '\(part)': expected zbud, zsmalloc, tmem, swap or writeback")
        }
    }
}
