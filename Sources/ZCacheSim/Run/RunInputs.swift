// What made a result file: the tool's version, the command line, the scenario
// and the contents. Written at the top of `--json` and `--report` files so a
// file says how to reproduce it.

import Foundation
import ZCache

/// The inputs of a `zcache-sim run`, as recorded in its output files.
public struct RunInputs: Sendable, Encodable {
    /// This package's version (see `ZCacheSimVersion`).
    public var version = ZCacheSimVersion.current
    /// The command line, program name first.
    public var commandLine: [String]
    /// The scenario and every option.
    public var options: SimulationOptions
    /// Where page contents came from: the generator and its seed, or the corpus files.
    public var contents: String

    /// Records `options` run with the `contents` source, from `commandLine`.
    public init(commandLine: [String], options: SimulationOptions, contents: String) {
        self.commandLine = commandLine
        self.options = options
        self.contents = contents
    }

    enum CodingKeys: String, CodingKey {
        case version, commandLine = "command_line", options, contents
    }

    /// `name value` rows of every input, for a table.
    public var summary: [(String, String)] {
        [
            ("version", version), ("command line", commandLine.joined(separator: " ")),
            ("contents", contents),
        ] + Report.rows(options)
    }
}

/// The version recorded in result files.
public enum ZCacheSimVersion {
    /// Raised with each release of the package.
    public static let current = "0.16.0"
}

extension SimulationOptions: Encodable {
    enum CodingKeys: String, CodingKey {
        case host, compressor, policies, writeback
        case writebackCap = "writeback_cap", zcacheFrames = "zcache_frames"
        case nonActiveFilter = "nonactive_filter", swapFile = "swap_file", corpus
        case contentSeed = "content_seed", allowSwapFull = "allow_swap_full"
        case trace, traceFormat = "trace_format", ramFraction = "ram_fraction"
        case includeZCacheOff = "include_zcache_off", deviceLatencyMicros = "device_latency_us"
        case maxPoolPercent = "max_pool_percent"
        case acceptThresholdPercent = "accept_threshold_percent"
    }

    /// Every option under a snake_case key; the pool size as it is used.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(host, forKey: .host)
        try c.encode(compressor, forKey: .compressor)
        try c.encode(policies, forKey: .policies)
        try c.encode(writeback, forKey: .writeback)
        try c.encode(writebackCap, forKey: .writebackCap)
        try c.encode(effectiveZCacheFrames, forKey: .zcacheFrames)
        try c.encode(nonActiveFilter, forKey: .nonActiveFilter)
        try c.encodeIfPresent(swapFile, forKey: .swapFile)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(contentSeed, forKey: .contentSeed)
        try c.encode(allowSwapFull, forKey: .allowSwapFull)
        try c.encodeIfPresent(trace, forKey: .trace)
        try c.encodeIfPresent(traceFormat?.rawValue, forKey: .traceFormat)
        try c.encodeIfPresent(ramFraction, forKey: .ramFraction)
        try c.encode(includeZCacheOff, forKey: .includeZCacheOff)
        try c.encode(deviceLatencyMicros, forKey: .deviceLatencyMicros)
        try c.encode(maxPoolPercent, forKey: .maxPoolPercent)
        try c.encode(acceptThresholdPercent, forKey: .acceptThresholdPercent)
    }
}
