import Foundation
import SwapDevice
import XCTest
import ZCache
import ZCacheSupport

@testable import RemoteTier

/// ZCache writing back to the remote tier on a real local cluster (3 masters,
/// 3 replicas): a model run with both front ends, concurrent writeback and
/// every swap-in verified, for each allocator and target; and bad input.
final class ZCacheRemoteTests: LocalClusterTestCase {
    override class var clusterPortOffset: Int { 12 }

    func client() throws -> (LocalCluster, RedisCluster) {
        let cluster = try localCluster()
        return (cluster, try clusterClient(seeds: [cluster.seeds[0]]))
    }

    func modelRun(allocator: ZCacheAllocatorKind, swapFileBehind: Bool, namespace: String) throws {
        let (cluster, redis) = try client()
        let stack = try RemoteStack(
            cluster: redis, namespace: namespace, replicas: 1, allocator: allocator,
            swapFileBehind: swapFileBehind)
        let workers = try (0..<3).map { try RemoteModelWorker(index: $0, stack: stack, seed: 41) }
        runConcurrently(workers, steps: 1500)
        for worker in workers { worker.drain() }
        stack.cache.flushRemoteDeletes()
        let s = stack.cache.statistics
        for worker in workers {
            XCTAssertEqual(worker.wrong, [], "worker \(worker.index)")
            XCTAssertEqual(worker.otherErrors, [], "worker \(worker.index)")
            XCTAssertEqual(worker.live.count, 0, "worker \(worker.index): pages not read back")
        }
        let sources = workers.reduce(into: [ZCache.SwapInSource: Int]()) { total, worker in
            total.merge(worker.sources, uniquingKeysWith: +)
        }
        XCTAssertGreaterThan(sources[.remote] ?? 0, 0, "no swap-in came from the remote tier")
        XCTAssertGreaterThan(sources[.zcache] ?? 0, 0)
        XCTAssertEqual(s.remote.remoteGetHits, sources[.remote] ?? 0)
        XCTAssertGreaterThan(s.remote.remotePuts, 0)
        XCTAssertEqual(s.remote.remoteErrors, 0)
        XCTAssertEqual(s.remote.remotePages, 0, "every entry was read back or freed")
        XCTAssertGreaterThan(s.remote.remoteRoundTrips, 0)
        XCTAssertGreaterThanOrEqual(
            s.remote.remoteRoundTripP99Microseconds, s.remote.remoteRoundTripP50Microseconds)
        XCTAssertEqual(
            try RemoteStack.keysLeft(cluster, masters: redis.masters, namespace: namespace), 0,
            "a page read back or freed left its key behind")
        XCTAssertEqual(stack.device.slots.usedSlots, 0)
        XCTAssertTrue(stack.cache.checkFrameAccounting())
        stack.cache.checkInvariants()
    }

    func testModelRunZBudRemote() throws {
        try modelRun(allocator: .zbud, swapFileBehind: false, namespace: "model-zbud")
    }

    func testModelRunZSmallocRemoteThenSwapFile() throws {
        try modelRun(allocator: .zsmalloc, swapFileBehind: true, namespace: "model-zsmalloc")
    }

    /// Values that are not this cache's page: a foreign value and another
    /// namespace's page under the key. The swap-in is a typed error naming the
    /// entry, the entry is kept, and once the value is right again it swaps in.
    func testForeignValuesAreTypedErrorsAndLoseNothing() throws {
        let (_, redis) = try client()
        let mine = try RemoteStack(cluster: redis, namespace: "bad-a", allocator: .zsmalloc)
        let theirs = try RemoteStack(cluster: redis, namespace: "bad-b", allocator: .zsmalloc)
        var entries: [SwapEntry] = []
        for id in 1...40 as ClosedRange<UInt64> {
            for stack in [mine, theirs] {
                let entry = try RemoteStack.page(id).withUnsafeBytes {
                    try stack.cache.swapOut(page: $0, type: stack.device.type)
                }
                if stack === mine { entries.append(entry) }
            }
        }
        XCTAssertEqual(mine.cache.writeback(pageframes: 100), 40)
        XCTAssertEqual(theirs.cache.writeback(pageframes: 100), 40)
        let entry = entries[3]
        let key = mine.tier.key(try XCTUnwrap(mine.cache.remotePageKey(of: entry)))
        let theirKey = theirs.tier.key(try XCTUnwrap(theirs.cache.remotePageKey(of: entry)))
        guard
            case .string(let original) = try redis.execute([RedisCommand("GET", key: key)])[0].get()
        else { return XCTFail("no value under \(key)") }
        guard
            case .string(let foreign) = try redis.execute([RedisCommand("GET", key: theirKey)])[0]
                .get()
        else { return XCTFail("no value under \(theirKey)") }
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for bad in [Array("not a page".utf8), foreign, Array(original.dropLast())] {
            _ = try redis.execute([RedisCommand("SET", key: key, bad)])[0].get()
            XCTAssertThrowsError(
                try buffer.withUnsafeMutableBytes { try mine.cache.swapIn(entry, into: $0) }
            ) { error in
                guard case ZCacheError.remotePageUnavailable(let named, let reason) = error else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(named, entry)
                XCTAssertTrue(reason.contains("not a page"), reason)
            }
        }
        _ = try redis.execute([RedisCommand("SET", key: key, original)])[0].get()
        for (i, entry) in entries.enumerated() {
            XCTAssertEqual(
                try buffer.withUnsafeMutableBytes { try mine.cache.swapIn(entry, into: $0) },
                .remote)
            XCTAssertEqual(buffer, RemoteStack.page(UInt64(i + 1)))
        }
        XCTAssertEqual(mine.cache.statistics.remote.remoteErrors, 3)
        XCTAssertEqual(mine.cache.statistics.remote.remoteGetHits, 40)
    }

    /// Masters answering errors (out of memory, no eviction): writeback's puts
    /// fail; pages stay in zcache (remote) or go to the swap file (remote+swap);
    /// nothing is lost. An unreachable cluster is a typed error.
    func testErrorsFromTheServerLoseNothing() throws {
        let (cluster, redis) = try client()
        for swapFileBehind in [false, true] {
            let stack = try RemoteStack(
                cluster: redis, namespace: "oom-\(swapFileBehind)", allocator: .zbud,
                swapFileBehind: swapFileBehind)
            var entries: [SwapEntry] = []
            for id in 1...30 as ClosedRange<UInt64> {
                entries.append(
                    try RemoteStack.page(id).withUnsafeBytes {
                        try stack.cache.swapOut(page: $0, type: stack.device.type)
                    })
            }
            for node in redis.masters {
                XCTAssertEqual(
                    try cluster.cli(port: node.port, ["config", "set", "maxmemory", "1"]), "OK\n")
            }
            let written = stack.cache.writeback(pageframes: 100)
            for node in redis.masters {
                _ = try cluster.cli(port: node.port, ["config", "set", "maxmemory", "0"])
            }
            let s = stack.cache.statistics
            XCTAssertGreaterThan(s.remote.remoteErrors, 0)
            XCTAssertEqual(s.remote.remotePuts, 0)
            XCTAssertEqual(written > 0, swapFileBehind, "written \(written)")
            stack.cache.waitForWriteback()
            var buffer = [UInt8](repeating: 0, count: pageSize)
            for (i, entry) in entries.enumerated() {
                let source = try buffer.withUnsafeMutableBytes {
                    try stack.cache.swapIn(entry, into: $0)
                }
                XCTAssertNotEqual(source, .remote)
                XCTAssertEqual(buffer, RemoteStack.page(UInt64(i + 1)), "page \(i + 1)")
            }
        }
        var unreachable = RedisCluster.Configuration(
            seeds: [RedisNodeAddress(host: "127.0.0.1", port: 1)])
        unreachable.timeoutMilliseconds = 200
        XCTAssertThrowsError(try RedisCluster(configuration: unreachable)) { error in
            guard case RemoteTierError.unreachable = error else { return XCTFail("\(error)") }
        }
    }
}
