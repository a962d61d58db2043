// `zcache-sim microbench PART`: one layer on its own.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Microbench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure one part on its own (zbud, tmem, swap, writeback, swapin).")

    @Argument(help: "zbud, tmem, swap, writeback or swapin")
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
        case "swapin": print(try SwapInMicrobenchmark.run(corpus: corpus))
        default:
            throw ValidationError(
                "unknown part '\(part)': expected zbud, tmem, swap, writeback or swapin")
        }
    }
}
