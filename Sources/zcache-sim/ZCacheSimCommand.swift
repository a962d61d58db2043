// The `zcache-sim` command line: `run` (the default) drives the simulated host
// over ZCache, `bench` measures ZCache against the bare codec, `codecs` and
// `microbench` look at one layer, `region` runs a workload in a ZCacheRegion.
// All the work lives in the ZCacheSim library; the files here map flags onto
// it and print, one file per subcommand.

import ArgumentParser
import Foundation
import ZCache
import ZCacheSim

@main
struct ZCacheSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zcache-sim",
        abstract: "Run the zcache compressed swap cache under simulated memory pressure.",
        subcommands: [Run.self, Bench.self, Codecs.self, Microbench.self, Region.self],
        defaultSubcommand: Run.self)
}

extension CompressorKind: ExpressibleByArgument {}
extension AccessPattern: ExpressibleByArgument {}

/// `--policy`: one shrinker policy, or `all` of them side by side.
enum PolicyChoice: ExpressibleByArgument, Equatable {
    case one(ShrinkerPolicy)
    case all

    init?(argument: String) {
        if argument == "all" {
            self = .all
        } else if let policy = ShrinkerPolicy(rawValue: argument) {
            self = .one(policy)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ShrinkerPolicy.allCases.map(\.rawValue) + ["all"] }

    /// Shown as the default in `--help`.
    var defaultValueDescription: String {
        switch self {
        case .one(let policy): policy.rawValue
        case .all: "all"
        }
    }

    var policies: [ShrinkerPolicy] {
        switch self {
        case .one(let policy): [policy]
        case .all: ShrinkerPolicy.allCases
        }
    }
}
