// `zcache-sim run --remote redis://HOST:PORT`: writeback to the remote tier
// on a Redis Cluster instead of (or before) the swap file, for one simulated
// host or several sharing the cluster, each under its own namespace.

import ArgumentParser
import Dispatch
import Foundation
import RemoteTier
import ZCache
import ZCacheSim
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

extension WritebackTarget: ExpressibleByArgument {}

struct RemoteOptions: ParsableArguments {
    @Option(
        help:
            "Write back to the remote tier on this Redis Cluster (any node: redis://127.0.0.1:PORT; scripts/cluster start PORT starts one)."
    )
    var remote: String?

    @Option(
        help: "With --remote: remote (a page the cluster refuses stays in zcache) or remote+swap.")
    var remoteTarget = WritebackTarget.remote

    @Option(help: "With --remote: replicas that must hold a page before it counts (WAIT).")
    var remoteReplicas = 0

    @Option(help: "With --remote: simulated hosts sharing the cluster, each its own namespace.")
    var hosts = 1

    func validate() throws {
        guard let remote else {
            if hosts != 1 { throw ValidationError("--hosts needs --remote") }
            return
        }
        guard RedisNodeAddress(remote) != nil else {
            throw ValidationError("--remote \(remote) is not redis://HOST:PORT")
        }
        guard remoteTarget != .swapFile else {
            throw ValidationError(
                "--remote-target is remote or remote+swap (without --remote: swap)")
        }
        guard (1...64).contains(hosts) else {
            throw ValidationError("--hosts \(hosts) is not in 1...64")
        }
        guard (0...16).contains(remoteReplicas) else {
            throw ValidationError("--remote-replicas \(remoteReplicas) is not in 0...16")
        }
    }

    /// The writeback for each host (namespaces `sim-PID-hN`), or nil without --remote.
    func connect() throws -> [RemoteWriteback]? {
        guard let remote, let seed = RedisNodeAddress(remote) else { return nil }
        do {
            var configuration = RedisCluster.Configuration(seeds: [seed])
            configuration.timeoutMilliseconds = 5000
            let cluster = try RedisCluster(configuration: configuration)
            return try (0..<hosts).map { host in
                var tier = RedisPageTier.Configuration(namespace: "sim-\(getpid())-h\(host)")
                tier.replicas = remoteReplicas
                tier.waitMilliseconds = 2000
                return RemoteWriteback(
                    store: try RedisPageTier(cluster: cluster, configuration: tier),
                    swapFileBehind: remoteTarget == .remoteThenSwapFile)
            }
        } catch let error as RemoteTierError {
            throw ValidationError("--remote \(remote): \(error)")
        }
    }
}

/// Runs one host per writeback, all at once, each with its own swap file and
/// namespace on the shared cluster; returns their results in host order.
func runSharedHosts(
    _ options: SimulationOptions, remotes: [RemoteWriteback], allocator: ZCacheAllocatorKind,
    policy: ShrinkerPolicy, content: PageContentSource, costs: CostModel
) throws -> [SimulationResult] {
    let results = LockedValue(
        [Result<SimulationResult, SimulationError>?](
            repeating: nil, count: remotes.count))
    DispatchQueue.concurrentPerform(iterations: remotes.count) { host in
        var hostOptions = options
        hostOptions.remote = remotes[host]
        hostOptions.swapFile = nil  // each host its own temporary swap file
        hostOptions.host.seed = options.host.seed &+ UInt64(host)
        let result = Result { () throws(SimulationError) -> SimulationResult in
            try Simulation.run(
                hostOptions, policy: policy, allocator: allocator, content: content, costs: costs)
        }
        results.withLock { $0[host] = result }
    }
    return try results.withLock { $0 }.map { try $0!.get() }
}
