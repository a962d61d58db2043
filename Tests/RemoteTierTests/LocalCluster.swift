import Foundation
import RemoteTier
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// A local Redis Cluster (3 masters + 3 replicas on loopback) for one test
/// class, started and stopped with the project's `scripts/cluster`.
struct LocalCluster {
    let basePort: Int
    var seeds: [RedisNodeAddress] {
        (0..<6).map { RedisNodeAddress(host: "127.0.0.1", port: basePort + $0) }
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/cluster").path
    }

    /// A base port for this test process: six ports at `offset` (0, 6 ... 24) within a block
    /// of its own, so two test runs on one machine (two checkouts, say) do not
    /// stop each other's clusters. Every port (12,000 to 22,499) and its node's
    /// cluster bus (port + 10,000) stay below 32,768, where Linux's range of
    /// ephemeral ports starts: an outgoing connection there once held a bus
    /// port, and that node could not start.
    static func basePort(offset: Int) -> Int {
        12_000 + Int(getpid() % 350) * 30 + offset
    }

    /// Starts the cluster; fails the test (with the script's words) if it cannot.
    static func start(basePort: Int) throws -> LocalCluster {
        let result = try run([script, "start", String(basePort)])
        guard result.status == 0 else {
            throw ClusterError(
                message: "scripts/cluster start \(basePort) failed: \(result.output)")
        }
        return LocalCluster(basePort: basePort)
    }

    func stop() {
        _ = try? Self.run([Self.script, "stop", String(basePort)])
    }

    /// Runs `redis-cli -p PORT args...` and returns its output.
    func cli(port: Int, _ arguments: [String]) throws -> String {
        try Self.run(["redis-cli", "-p", String(port)] + arguments).output
    }

    struct ClusterError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Runs a command to its end, its output (and errors) going to a temporary
    /// file. Not Foundation's `Process`: it learns of the child's exit through
    /// a descriptor that a daemonized redis-server inherits and keeps open, so
    /// it would wait for ever.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath =
            NSTemporaryDirectory()
            + "zcache-cluster-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
        guard spawned == 0 else {
            throw ClusterError(
                message: "cannot start \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}

/// A test class with a cluster of its own: started before the class's first
/// test and stopped after its last (XCTest's class `setUp` / `tearDown`), on
/// the ports of `clusterPortOffset`, so classes never share or stop each
/// other's clusters.
class LocalClusterTestCase: XCTestCase {
    /// This class's ports, from the process's own range (`LocalCluster.basePort`).
    class var clusterPortOffset: Int { 0 }

    class var basePort: Int { LocalCluster.basePort(offset: clusterPortOffset) }

    /// Each class's cluster, or why it did not start.
    nonisolated(unsafe) private static var clusters:
        [ObjectIdentifier: Result<LocalCluster, Error>] =
            [:]

    override class func setUp() {
        super.setUp()
        clusters[ObjectIdentifier(self)] = Result { try LocalCluster.start(basePort: basePort) }
    }

    override class func tearDown() {
        if case .success(let cluster) = clusters.removeValue(forKey: ObjectIdentifier(self)) {
            cluster.stop()
        }
        super.tearDown()
    }

    /// This class's cluster; one that did not start throws the script's words
    /// (is redis-server installed? `scripts/ensure-deps --redis`), failing the test.
    func localCluster() throws -> LocalCluster {
        guard let started = Self.clusters[ObjectIdentifier(type(of: self))] else {
            throw LocalCluster.ClusterError(
                message: "no local cluster was started for \(type(of: self))")
        }
        return try started.get()
    }

    /// A client for `seeds` of this class's cluster: a 15 s timeout, above the
    /// tests' WAIT timeouts; with `survivingFailover`, up to 40 rounds of
    /// retries (about 37 s), since a failover takes the node timeout (2 s)
    /// and an election, much longer on a loaded machine.
    func clusterClient(seeds: [RedisNodeAddress], survivingFailover: Bool = false) throws
        -> RedisCluster
    {
        var configuration = RedisCluster.Configuration(seeds: seeds)
        configuration.timeoutMilliseconds = 15_000
        if survivingFailover { configuration.maxAttempts = 40 }
        return try RedisCluster(configuration: configuration)
    }
}
