import Foundation
import SwapDevice
import XCTest
import ZCache
import ZCacheSupport

@testable import RemoteTier

/// The model run with a master killed in the middle (failover to its replica),
/// then the node restarted and every connection dropped: pages acknowledged
/// by a replica (WAIT 1) are all read back; nothing is lost or wrong.
final class ZCacheRemoteFailoverTests: LocalClusterTestCase {
    override class var clusterPortOffset: Int { 18 }

    func testModelRunThroughFailoverRestartAndDroppedConnections() throws {
        let cluster = try localCluster()
        let redis = try clusterClient(seeds: cluster.seeds, survivingFailover: true)
        let stack = try RemoteStack(
            // After the failover the promoted replica has no replica of its
            // own: its batches wait out the WAIT and are refused (the pages
            // stay in zcache), so the wait is kept short.
            cluster: redis, namespace: "failover-model", replicas: 1, waitMilliseconds: 1000,
            allocator: .zsmalloc)
        let workers = try (0..<2).map { try RemoteModelWorker(index: $0, stack: stack, seed: 7) }
        runConcurrently(workers, steps: 800)
        XCTAssertGreaterThan(stack.cache.statistics.remote.remotePages, 0)

        // Kill one master outright, and go on.
        let victim = try XCTUnwrap(redis.masters.first)
        let directory = "/tmp/zcache-cluster-\(Self.basePort)"
        let pidFile = "\(directory)/redis-\(victim.port).pid"
        let pid = try XCTUnwrap(
            Int32(
                String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(pid, SIGKILL), 0)
        runConcurrently(workers, steps: 200)

        // The node comes back (as a replica) and every connection is dropped.
        let restart = try LocalCluster.run([
            "redis-server", "--port", String(victim.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file",
            "\(directory)/nodes-\(victim.port).conf",
            "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
            "--maxmemory-policy", "noeviction", "--save", "", "--appendonly", "no",
            "--dir", directory, "--pidfile", pidFile,
            "--logfile", "\(directory)/redis-\(victim.port).log", "--daemonize", "yes",
        ])
        XCTAssertEqual(restart.status, 0, restart.output)
        for node in cluster.seeds where node != victim {
            _ = try? cluster.cli(port: node.port, ["client", "kill", "type", "normal"])
        }
        runConcurrently(workers, steps: 200)
        for worker in workers { worker.drain(attempts: 5) }

        for worker in workers {
            XCTAssertEqual(worker.wrong, [], "worker \(worker.index)")
            XCTAssertEqual(worker.otherErrors, [], "worker \(worker.index)")
            XCTAssertEqual(worker.live.count, 0, "worker \(worker.index): pages not read back")
        }
        let remote = workers.reduce(0) { $0 + ($1.sources[.remote] ?? 0) }
        XCTAssertGreaterThan(remote, 0)
        XCTAssertFalse(redis.masters.contains(victim), "the promoted replica serves the slots")
        XCTAssertEqual(stack.cache.statistics.remote.remotePages, 0)
        XCTAssertTrue(stack.cache.checkFrameAccounting())
    }
}
