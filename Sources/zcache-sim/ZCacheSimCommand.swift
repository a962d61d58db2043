// The `zcache-sim` command line: `run` (the default) drives the simulated host
// over ZCache, `bench` measures ZCache against the bare codec, `codecs` and
// `microbench` look at one layer, `region` runs a workload in a ZCacheRegion.
// All the work lives in the ZCacheSim library; the files here map flags onto
// it and print, one file per subcommand.
//
// Misuse is refused before any work, in one line that names the option or the
// file (UsageChecks.swift has the helpers every subcommand uses). Exit status:
//   0   success
//   1   pages lost, or a failure during the work (the message says which)
//   2   the swap file turned out too small: most swap-outs failed
//       (run without --allow-swap-full)
//   64  refused before any work: a bad option, input or output file, or a swap
//       file in use, active as system swap, or too small for the working set

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
        version: ZCacheSimVersion.current,
        subcommands: [Run.self, Sweep.self, Bench.self, Codecs.self, Microbench.self, Region.self],
        defaultSubcommand: Run.self)

    /// ArgumentParser's own entry point, with two changes: a negative number
    /// after an option is that option's value (`--ram -1` as `--ram=-1`), so it
    /// reaches the option's bounds check; and every error is one line.
    static func main() {
        let arguments = UsageChecks.attachNegativeNumbers(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            UsageChecks.exit(with: error, of: Self.self)
        }
    }
}

extension CompressorKind: ExpressibleByArgument {}
extension AccessPattern: ExpressibleByArgument {}
extension TraceFormat: ExpressibleByArgument {}

/// `--policy`: one shrinker policy, zcache off (plain swap), or `all` of
/// them side by side (the policies and zcache off).
enum PolicyChoice: ExpressibleByArgument, Equatable {
    case one(ShrinkerPolicy)
    case zcacheOff
    case all

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if argument == SimulationResult.zcacheOffName {
            self = .zcacheOff
        } else if let policy = ShrinkerPolicy(rawValue: argument) {
            self = .one(policy)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] {
        ShrinkerPolicy.allCases.map(\.rawValue) + [SimulationResult.zcacheOffName, "all"]
    }

    /// Shown as the default in `--help`.
    var defaultValueDescription: String {
        switch self {
        case .one(let policy): policy.rawValue
        case .zcacheOff: SimulationResult.zcacheOffName
        case .all: "all"
        }
    }

    var policies: [ShrinkerPolicy] {
        switch self {
        case .one(let policy): [policy]
        case .zcacheOff: []
        case .all: ShrinkerPolicy.allCases
        }
    }

    var includesZCacheOff: Bool {
        switch self {
        case .one: false
        case .zcacheOff, .all: true
        }
    }
}

/// `--allocator zbud|zsmalloc|all`.
enum AllocatorChoice: ExpressibleByArgument, Equatable {
    case one(ZCacheAllocatorKind)
    case all

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if let allocator = ZCacheAllocatorKind(rawValue: argument) {
            self = .one(allocator)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ZCacheAllocatorKind.allCases.map(\.rawValue) + ["all"] }

    /// Shown as the default in `--help`.
    var defaultValueDescription: String {
        switch self {
        case .one(let allocator): allocator.rawValue
        case .all: "all"
        }
    }

    var allocators: [ZCacheAllocatorKind] {
        switch self {
        case .one(let allocator): [allocator]
        case .all: ZCacheAllocatorKind.allCases
        }
    }

    /// The help text of every subcommand's `--allocator`.
    static let help = ArgumentHelp(
        "Allocator of compressed pages, or all of them side by side.",
        valueName: allValueStrings.joined(separator: "|"))
}
