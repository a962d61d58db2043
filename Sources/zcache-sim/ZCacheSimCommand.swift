// The `zcache-sim` command line: `run` (the default) drives the simulated host
// over ZCache, `bench` measures ZCache against the bare codec, `codecs` and
// `microbench` look at one layer. All the work lives in the ZCacheSim library;
// the files here map flags onto it and print, one file per subcommand.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

@main
struct ZCacheSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zcache-sim",
        abstract: "Run the zcache compressed swap cache under simulated memory pressure.",
        subcommands: [Run.self, Sweep.self, Bench.self, Codecs.self, Microbench.self],
        defaultSubcommand: Run.self)
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
