import XCTest
import ZCache

@testable import RemoteTier

/// Key slots and reply parsing against Redis Cluster's specification.
final class ClusterSlotTests: XCTestCase {
    func testCRC16AndSlotsAgainstTheSpecification() {
        // The specification's check value for CRC16-CCITT (XMODEM).
        XCTAssertEqual(ClusterSlotMap.crc16(Array("123456789".utf8)), 0x31C3)
        // Hash tags: only the part between the first { and the next } counts.
        let a = ClusterSlotMap.slot(of: Array("{user1000}.following".utf8))
        let b = ClusterSlotMap.slot(of: Array("{user1000}.followers".utf8))
        XCTAssertEqual(a, b)
        XCTAssertEqual(a, ClusterSlotMap.slot(of: Array("user1000".utf8)))
        // An empty tag hashes the whole key.
        XCTAssertEqual(
            ClusterSlotMap.slot(of: Array("foo{}{bar}".utf8)),
            Int(ClusterSlotMap.crc16(Array("foo{}{bar}".utf8)) & 0x3FFF))
        XCTAssertEqual(
            ClusterSlotMap.slot(of: Array("foo{{bar}}zap".utf8)),
            ClusterSlotMap.slot(of: Array("{bar".utf8)))
    }

    func testAddressesAndRedirectionsParse() {
        XCTAssertEqual(
            RedisNodeAddress("redis://127.0.0.1:7000"),
            RedisNodeAddress(host: "127.0.0.1", port: 7000))
        XCTAssertEqual(RedisNodeAddress("[::1]:6379"), RedisNodeAddress(host: "::1", port: 6379))
        XCTAssertNil(RedisNodeAddress("127.0.0.1"))
        XCTAssertNil(RedisNodeAddress("127.0.0.1:0"))
        XCTAssertNil(RedisNodeAddress("127.0.0.1:70000"))
        XCTAssertNil(RedisNodeAddress(":7000"))
        XCTAssertEqual(
            RedisReply.error("MOVED 3999 127.0.0.1:6381").redirection,
            .moved(slot: 3999, to: RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        XCTAssertEqual(
            RedisReply.error("ASK 3999 127.0.0.1:6381").redirection,
            .ask(slot: 3999, to: RedisNodeAddress(host: "127.0.0.1", port: 6381)))
        XCTAssertNil(RedisReply.error("ERR wrong number of arguments").redirection)
        XCTAssertTrue(RedisReply.error("CLUSTERDOWN The cluster is down").isTransientClusterError)
    }

    func testSlotMapParsesClusterSlotsAndRejectsGarbage() throws {
        func node(_ port: Int) -> RedisReply {
            .array([.string(Array("127.0.0.1".utf8)), .integer(port), .string([])])
        }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(8191), node(7000), node(7003)]),
            .array([.integer(8192), .integer(16383), node(7001)]),
        ])
        let map = try ClusterSlotMap(clusterSlots: reply)
        XCTAssertEqual(map.node(forSlot: 0)?.port, 7000)
        XCTAssertEqual(map.node(forSlot: 8191)?.port, 7000)
        XCTAssertEqual(map.node(forSlot: 8192)?.port, 7001)
        XCTAssertEqual(
            map.replicas[RedisNodeAddress(host: "127.0.0.1", port: 7000)]?.map(\.port), [7003])
        XCTAssertThrowsError(
            try ClusterSlotMap(
                clusterSlots: .array([.array([.integer(5), .integer(99999), node(7000)])])))
        XCTAssertThrowsError(
            try ClusterSlotMap(
                clusterSlots: .error("ERR This instance has cluster support disabled")))
    }

    func testStatisticsBucketsBoundTheirValues() {
        for value: UInt64 in [4, 5, 7, 8, 1000, 12_345, 999_999, 1 << 40] {
            let bucket = RemoteTierCounters.bucket(value)
            XCTAssertLessThanOrEqual(RemoteTierCounters.lowerBound(bucket), Double(value))
            XCTAssertGreaterThan(RemoteTierCounters.lowerBound(bucket + 1), Double(value))
        }
    }
}
