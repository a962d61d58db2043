import ArgumentParser
import ZCache
import ZCacheSim

@main
struct ZCacheSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zcache-sim",
        abstract: "Run the zcache compressed swap cache under simulated memory pressure.",
        subcommands: [Codecs.self, Microbench.self],
        defaultSubcommand: Codecs.self)
}

struct Codecs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress and restore real pages with each codec; print sizes and throughput.")

    @Option(name: .long, parsing: .upToNextOption, help: "Page files (4096-byte pages, concatenated); default: pages of system binaries.")
    var corpus: [String] = []

    func run() throws {
        let pages = corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        print("pages: \(pages.count / 4096) from \(corpus.isEmpty ? "system binaries and libraries" : corpus.joined(separator: ", "))")
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
        abstract: "Measure one module on its own (zbud, tmem, swap).")

    @Argument(help: "zbud, tmem or swap")
    var part: String

    @Option(name: .long, parsing: .upToNextOption, help: "Page files for parts that use real pages.")
    var corpus: [String] = []

    func run() throws {
        switch part {
        case "zbud": print(try ZBudMicrobenchmark.run(corpus: corpus))
        case "tmem": print(try TMemMicrobenchmark.run(corpus: corpus))
        case "swap": print(try SwapDeviceMicrobenchmark.run(corpus: corpus))
        default: throw ValidationError("unknown part '\(part)': expected zbud, tmem or swap")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
