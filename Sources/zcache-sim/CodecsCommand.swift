// `zcache-sim codecs`: each codec on real pages.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

struct Codecs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress and restore real pages with each codec; print sizes and throughput.")

    @Option(
        name: .long, parsing: .upToNextOption,
        help: "Page files (4096-byte pages, concatenated); default: pages of system binaries.")
    var corpus: [String] = []

    func validate() throws {
        try UsageChecks.check { try OptionChecks.corpus(corpus) }
    }

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
                String(row.pages).leftPadded(6), String(row.compressedPages).leftPadded(7),
                String(format: "%5.2fx", row.ratio).leftPadded(7),
                String(format: "%.0f", row.compressPagesPerSecond).leftPadded(14),
                String(format: "%.0f", row.decompressPagesPerSecond).leftPadded(15),
                String(row.verified).leftPadded(9))
        }
    }
}
