import Foundation
import XCTest
import ZCache
import ZCacheSupport

@testable import RemoteTier

/// The client and the page tier against a real local cluster (3 masters, 3
/// replicas on loopback, started for this class by `scripts/cluster`).
final class RedisClusterTests: LocalClusterTestCase {
    override class var clusterPortOffset: Int { 0 }

    func client(_ cluster: LocalCluster) throws -> RedisCluster {
        try clusterClient(seeds: [cluster.seeds[0]])
    }

    func tier(
        _ cluster: RedisCluster, _ namespace: String, replicas: Int = 0,
        waitMilliseconds: Int = 5000
    ) throws -> RedisPageTier {
        var configuration = RedisPageTier.Configuration(namespace: namespace)
        configuration.replicas = replicas
        configuration.waitMilliseconds = waitMilliseconds
        return try RedisPageTier(cluster: cluster, configuration: configuration)
    }

    /// Random "compressed" pages of every size from 1 to 4096 bytes.
    static func pages(_ count: Int, seed: UInt64) -> [RemotePage] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let size = i < 4096 ? i + 1 : Int(rng.next() % 4096) + 1
            return RemotePage(
                codec: UInt8(i % 3),
                data: (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        }
    }

    func testSlotsAgreeWithTheServer() throws {
        let cluster = try localCluster()
        let connection = try RedisConnection(address: cluster.seeds[0], timeoutMilliseconds: 1000)
        var rng = SplitMix64(seed: 3)
        let keys: [[UInt8]] = (0..<2000).map { i in
            i % 10 == 0
                ? Array("{tag\(i % 7)}rest\(rng.next())".utf8)
                : (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        let replies = try connection.pipeline(
            keys.map { [Array("CLUSTER".utf8), Array("KEYSLOT".utf8), $0] })
        for (key, reply) in zip(keys, replies) {
            XCTAssertEqual(reply, .integer(ClusterSlotMap.slot(of: key)), "key \(key)")
        }
    }

    func testPagesRoundTripOverEveryMaster() throws {
        let cluster = try localCluster()
        let redis = try client(cluster)
        XCTAssertEqual(redis.masters.count, 3)
        let tier = try tier(redis, "roundtrip")
        let pages = Self.pages(6000, seed: 1)
        let keys = pages.indices.map { RemotePageKey(type: $0 % 2, offset: UInt64($0) * 977) }
        for batch in stride(from: 0, to: pages.count, by: 500) {
            let range = batch..<min(batch + 500, pages.count)
            for result in tier.put(range.map { (keys[$0], pages[$0]) }) {
                XCTAssertNoThrow(try result.get())
            }
        }
        // Spread over the three masters.
        for master in redis.masters {
            let size = try cluster.cli(port: master.port, ["dbsize"]).trimmingCharacters(
                in: .whitespacesAndNewlines)
            XCTAssertGreaterThan(Int(size) ?? 0, 1000, "master \(master) holds \(size) keys")
        }
        let got = tier.get(keys)
        for (i, result) in got.enumerated() {
            XCTAssertEqual(try result.get(), pages[i], "page \(i)")
        }
        // Deleted pages are gone; the rest stay.
        let deleted = tier.delete(Array(keys[0..<3000]))
        XCTAssertTrue(deleted.allSatisfy { (try? $0.get()) == true })
        let after = tier.get(Array(keys[2990..<3010]))
        for (i, result) in after.enumerated() {
            XCTAssertEqual(try result.get(), 2990 + i < 3000 ? nil : pages[2990 + i])
        }
        let stats = tier.statistics
        XCTAssertEqual(stats.remotePuts, 6000)
        XCTAssertEqual(stats.remoteGets, 6020)
        XCTAssertEqual(stats.remoteGetHits, 6010)
        XCTAssertEqual(stats.remoteErrors, 0)
        XCTAssertEqual(
            stats.remoteBytes, pages.reduce(0) { $0 + $1.data.count + RedisPageTier.headerSize })
        XCTAssertGreaterThan(stats.remoteRoundTripP99Microseconds, 0)
        XCTAssertGreaterThanOrEqual(
            stats.remoteRoundTripP99Microseconds, stats.remoteRoundTripP50Microseconds)
    }

    func testWaitCountsReplicas() throws {
        let cluster = try localCluster()
        let redis = try client(cluster)
        let pages = Self.pages(200, seed: 2)
        let keys = pages.indices.map { RemotePageKey(type: 3, offset: UInt64($0)) }
        let one = try tier(redis, "wait1", replicas: 1)
        XCTAssertTrue(one.put(Array(zip(keys, pages))).allSatisfy { (try? $0.get()) != nil })
        // Each master has one replica: asking for two cannot be met (and waits
        // out its whole timeout, so a short one).
        let two = try tier(redis, "wait2", replicas: 2, waitMilliseconds: 300)
        for result in two.put(Array(zip(keys, pages))) {
            guard case .failure(.notReplicated(_, let acknowledged, let required)) = result else {
                return XCTFail("expected notReplicated, got \(result)")
            }
            XCTAssertEqual(required, 2)
            XCTAssertLessThanOrEqual(acknowledged, 1)
        }
    }

    func testMovedAndAskRedirectionsAreFollowed() throws {
        let cluster = try localCluster()
        let redis = try client(cluster)
        let tier = try tier(redis, "reshard")
        // Pages whose keys share one slot.
        let first = RemotePageKey(type: 1, offset: 1)
        let slot = ClusterSlotMap.slot(of: tier.key(first))
        var keys = [first]
        var offset: UInt64 = 2
        while keys.count < 4 {
            let key = RemotePageKey(type: 1, offset: offset)
            if ClusterSlotMap.slot(of: tier.key(key)) == slot { keys.append(key) }
            offset += 1
        }
        let pages = Self.pages(4, seed: 9)
        XCTAssertTrue(
            tier.put(Array(zip(keys[0..<2], pages[0..<2]))).allSatisfy { (try? $0.get()) != nil })
        let source = try XCTUnwrap(redis.master(forKey: tier.key(first)))
        let target = try XCTUnwrap(redis.masters.first { $0 != source })
        func id(_ node: RedisNodeAddress) throws -> String {
            try cluster.cli(port: node.port, ["cluster", "myid"]).trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        let sourceID = try id(source)
        let targetID = try id(target)
        _ = try cluster.cli(
            port: target.port, ["cluster", "setslot", String(slot), "importing", sourceID])
        _ = try cluster.cli(
            port: source.port, ["cluster", "setslot", String(slot), "migrating", targetID])
        // New keys of a migrating slot go to the target (ASK); old ones stay readable.
        XCTAssertTrue(
            tier.put(Array(zip(keys[2..<4], pages[2..<4]))).allSatisfy { (try? $0.get()) != nil })
        XCTAssertEqual(try tier.get(keys).map { try $0.get() }, pages.map { Optional($0) })
        XCTAssertGreaterThan(redis.redirectionCount, 0)
        // Finish the move: the old keys migrate, the slot belongs to the target.
        let oldKeys = keys[0..<2].map { String(decoding: tier.key($0), as: UTF8.self) }
        let migrated = try cluster.cli(
            port: source.port,
            ["migrate", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS"] + oldKeys)
        XCTAssertTrue(migrated.contains("OK"), migrated)
        for node in redis.masters {
            _ = try cluster.cli(
                port: node.port, ["cluster", "setslot", String(slot), "node", targetID])
        }
        let redirected = redis.redirectionCount
        XCTAssertEqual(try tier.get(keys).map { try $0.get() }, pages.map { Optional($0) })
        XCTAssertGreaterThan(redis.redirectionCount, redirected, "the stale map met MOVED")
        XCTAssertEqual(redis.master(forKey: tier.key(first)), target)
    }

    func testBadInputAndForeignValuesAreTypedErrors() throws {
        let cluster = try localCluster()
        let redis = try client(cluster)
        XCTAssertThrowsError(try tier(redis, "")) { XCTAssertTrue("\($0)".contains("namespace")) }
        XCTAssertThrowsError(try tier(redis, "a:b")) {
            XCTAssertTrue("\($0)".contains("namespace"))
        }
        // A WAIT longer than the socket timeout would be cut off every time.
        XCTAssertThrowsError(try tier(redis, "slow", replicas: 1, waitMilliseconds: 20_000)) {
            XCTAssertTrue("\($0)".contains("shorter than the cluster's timeout"), "\($0)")
        }
        let a = try tier(redis, "hostA")
        let b = try tier(redis, "hostB")
        let key = RemotePageKey(type: 0, offset: 5)
        let page = RemotePage(codec: 1, data: Array(repeating: 7, count: 100))
        guard case .failure(.badInput) = a.put([(key, RemotePage(codec: 1, data: []))])[0] else {
            return XCTFail("an empty page is bad input")
        }
        guard
            case .failure(.badInput) = a.put([
                (key, RemotePage(codec: 1, data: Array(repeating: 1, count: 4097)))
            ])[0]
        else { return XCTFail("a page over 4096 bytes is bad input") }
        XCTAssertNoThrow(try a.put([(key, page)])[0].get())
        // Host B's key holding host A's value: refused, not returned.
        let value = try XCTUnwrap(
            try redis.execute([RedisCommand("GET", key: a.key(key))])[0].get())
        guard case .string(let bytes) = value else { return XCTFail("\(value)") }
        XCTAssertNoThrow(try redis.execute([RedisCommand("SET", key: b.key(key), bytes)])[0].get())
        guard case .failure(.notAPage(_, let reason)) = b.get([key])[0] else {
            return XCTFail("foreign value accepted")
        }
        XCTAssertTrue(reason.contains("another key"), reason)
        // Something else's value under a page key, and damaged bytes.
        XCTAssertNoThrow(
            try redis.execute([RedisCommand("SET", key: b.key(key), Array("hello".utf8))])[0].get())
        guard case .failure(.notAPage) = b.get([key])[0] else { return XCTFail("garbage accepted") }
        var damaged = bytes
        damaged[damaged.count - 1] ^= 0xFF
        XCTAssertNoThrow(
            try redis.execute([RedisCommand("SET", key: a.key(key), damaged)])[0].get())
        guard case .failure(.notAPage(_, let why)) = a.get([key])[0] else {
            return XCTFail("damage accepted")
        }
        XCTAssertTrue(why.contains("checksum"), why)
        XCTAssertEqual(try a.get([RemotePageKey(type: 0, offset: 6)])[0].get(), nil)
        // A server error is typed: a command on the wrong kind of value.
        guard
            case .failure(.server(let message)) = redis.execute([
                RedisCommand("LPUSH", key: a.key(key), [1])
            ])[0]
        else {
            return XCTFail("expected a server error")
        }
        XCTAssertTrue(message.contains("WRONGTYPE"), message)
    }

    func testUnreachableClusterIsATypedErrorQuickly() throws {
        var configuration = RedisCluster.Configuration(seeds: [
            RedisNodeAddress(host: "127.0.0.1", port: 1)
        ])
        configuration.timeoutMilliseconds = 200
        let started = Date()
        XCTAssertThrowsError(try RedisCluster(configuration: configuration)) { error in
            guard case RemoteTierError.unreachable = error else { return XCTFail("\(error)") }
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertThrowsError(try RedisCluster(configuration: .init(seeds: [])))
    }
}
