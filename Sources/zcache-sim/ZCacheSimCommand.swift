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
        subcommands: [Run.self, Bench.self, Codecs.self, Microbench.self],
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
