import Foundation
import XCTest
import ZCache
import ZCacheSupport

@testable import RemoteTier

/// A master lost in the middle of a run: with WAIT for one replica, every
/// acknowledged page is read back from the promoted replica; a node stopped
/// and restarted and dropped connections lose nothing.
final class RedisFailoverTests: LocalClusterTestCase {
    override class var clusterPortOffset: Int { 6 }

    func testAcknowledgedPagesSurviveAMasterKilled() throws {
        let cluster = try localCluster()
        let redis = try clusterClient(seeds: cluster.seeds, survivingFailover: true)
        var configuration = RedisPageTier.Configuration(namespace: "failover")
        configuration.replicas = 1
        configuration.waitMilliseconds = 10_000  // a loaded machine replicates slowly
        let tier = try RedisPageTier(cluster: redis, configuration: configuration)
        let pages = RedisClusterTests.pages(3000, seed: 11)
        let keys = pages.indices.map { RemotePageKey(type: 0, offset: UInt64($0)) }
        var acknowledged = Set<Int>()
        for batch in stride(from: 0, to: 1500, by: 250) {
            for (i, result) in tier.put((batch..<batch + 250).map { (keys[$0], pages[$0]) })
                .enumerated()
            where (try? result.get()) != nil {
                acknowledged.insert(batch + i)
            }
        }
        XCTAssertEqual(acknowledged.count, 1500)

        // Kill one master outright.
        let victim = try XCTUnwrap(redis.masters.first)
        let pidFile = "/tmp/zcache-cluster-\(Self.basePort)/redis-\(victim.port).pid"
        let pid = try XCTUnwrap(
            Int32(
                String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(pid, SIGKILL), 0)

        // Reads of its pages wait out the failover and come from the replica.
        for (i, result) in tier.get(keys[0..<1500].map { $0 }).enumerated() {
            XCTAssertEqual(try result.get(), pages[i], "page \(i) after failover")
        }
        XCTAssertFalse(redis.masters.contains(victim), "the slot map names the promoted replica")
        // Writes go on (to the promoted replica, which has no replica of its own
        // now, so ask for none) and read back.
        let noWait = try RedisPageTier(cluster: redis, configuration: .init(namespace: "failover"))
        for result in noWait.put((1500..<3000).map { (keys[$0], pages[$0]) }) {
            XCTAssertNoThrow(try result.get())
        }

        // The killed node comes back (as a replica), connections are dropped: nothing lost.
        let restart = try LocalCluster.run([
            "redis-server", "--port", String(victim.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file",
            "/tmp/zcache-cluster-\(Self.basePort)/nodes-\(victim.port).conf",
            "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
            "--maxmemory-policy", "noeviction", "--save", "", "--appendonly", "no",
            "--dir", "/tmp/zcache-cluster-\(Self.basePort)", "--pidfile", pidFile,
            "--logfile", "/tmp/zcache-cluster-\(Self.basePort)/redis-\(victim.port).log",
            "--daemonize", "yes",
        ])
        XCTAssertEqual(restart.status, 0, restart.output)
        for node in cluster.seeds where node != victim {
            _ = try? cluster.cli(port: node.port, ["client", "kill", "type", "normal"])
        }
        for (i, result) in noWait.get(keys).enumerated() {
            XCTAssertEqual(
                try result.get(), pages[i], "page \(i) after restart and dropped connections")
        }
        XCTAssertGreaterThan(redis.reconnectCount, 0)
    }
}
