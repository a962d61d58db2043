// The remote tier's seam: where writeback can send compressed pages instead
// of (or before) the swap file, RAMster's tier on a store such as Redis
// Cluster. ZCache knows only this protocol; the `RemoteTier` module
// implements it with hiredis, so ZCache does not link a network client.
//
//   writeback pass (ZCache+RemoteWriteback.swift)
//     victims (LRU persistent zpages) -- has-cache bit taken, compressed bytes
//     copied out (the zpage stays in zcache) --> store.storePages (one batch)
//         acknowledged: residency[entry] = generation; zpage flushed; bit released
//         refused:      zpage stays (or goes to the swap file when it is behind)
//   swap in:  zcache -> swap cache -> residency[entry]? store.loadPages -> swap file
//   swap free (last reference): residency record dropped, key deleted (batched)
//
//   RemoteResidency (one per cache)
//     records: [SwapEntry: generation]   which slots' pages live remotely
//     deletes: [RemotePageKey]           keys no longer reachable, deleted in batches
//
// A key carries the generation of its write, so a key whose delete is still
// queued can never be read as a later page of the same slot.

import SwapDevice
import Synchronization
import ZCacheSupport

/// Where a page lives in the remote tier: its swap entry and the generation
/// of the write that put it there.
public struct RemotePageKey: Hashable, Sendable {
    public var type: Int
    public var offset: UInt64
    public var generation: UInt64

    public init(type: Int, offset: UInt64, generation: UInt64 = 0) {
        self.type = type
        self.offset = offset
        self.generation = generation
    }
}

/// A page as the remote tier holds it: still compressed, with its codec's id.
public struct RemotePage: Sendable, Equatable {
    public var codec: UInt8
    public var data: [UInt8]

    public init(codec: UInt8, data: [UInt8]) {
        self.codec = codec
        self.data = data
    }
}

/// A store of compressed pages on other machines. Every method takes a batch
/// and should cost one round trip per server, not one per page; results come
/// in the order of the input. Called with no zcache lock held.
public protocol RemotePageStore: Sendable {
    /// Stores pages; a success means the page is acknowledged (replicated as
    /// the store is configured) and may be dropped from zcache.
    func storePages(_ pages: [(key: RemotePageKey, page: RemotePage)]) -> [Result<Void, any Error>]
    /// Fetches pages: nil for a key the store does not hold; an error for a
    /// value that is not this store's page or a server that cannot answer.
    func loadPages(_ keys: [RemotePageKey]) -> [Result<RemotePage?, any Error>]
    /// Removes pages; true for each that was there.
    func deletePages(_ keys: [RemotePageKey]) -> [Result<Bool, any Error>]
}

/// Writeback to a remote store: given to `ZCache.init` to make the remote
/// tier the writeback target.
public struct RemoteWriteback: Sendable {
    /// Where the pages go.
    public var store: any RemotePageStore
    /// A page the store refuses or fails goes to the swap file instead
    /// ("remote+swap"); without it, it stays in zcache.
    public var swapFileBehind: Bool
    /// Pages per batch (one pipelined round trip per server).
    public var batchPages: Int

    public init(store: any RemotePageStore, swapFileBehind: Bool = false, batchPages: Int = 64) {
        self.store = store
        self.swapFileBehind = swapFileBehind
        self.batchPages = max(1, batchPages)
    }
}

/// Where writeback sends persistent pages.
public enum WritebackTarget: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The swap file (zcache's own writeback).
    case swapFile = "swap"
    /// The remote tier only; a refused page stays in zcache.
    case remote
    /// The remote tier, and the swap file for pages it refuses.
    case remoteThenSwapFile = "remote+swap"

    public var description: String { rawValue }
}

/// The remote tier's counters (JSON keys snake_case, as the other statistics).
public struct RemoteTierStatistics: Sendable, Codable, Equatable {
    /// Pages stored (acknowledged, and replicated as configured).
    public var remotePuts = 0
    /// Pages asked for, and found.
    public var remoteGets = 0, remoteGetHits = 0
    /// Pages whose put, get or delete failed (unreachable, server error, not a page, not replicated).
    public var remoteErrors = 0
    /// Bytes stored (the compressed bytes; a store may add its own header).
    public var remoteBytes = 0
    /// Pages living in the remote tier now (zcache's records; 0 for a store's own counters).
    public var remotePages = 0
    /// Round trips (one batch of puts or gets) and their latency percentiles,
    /// in whole microseconds (a bucket is up to 25% wide anyway).
    public var remoteRoundTrips = 0
    public var remoteRoundTripP50Microseconds = 0
    public var remoteRoundTripP99Microseconds = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case remotePuts = "remote_puts", remoteGets = "remote_gets"
        case remoteGetHits = "remote_get_hits", remoteErrors = "remote_errors"
        case remoteBytes = "remote_bytes", remotePages = "remote_pages"
        case remoteRoundTrips = "remote_round_trips"
        case remoteRoundTripP50Microseconds = "remote_round_trip_p50_us"
        case remoteRoundTripP99Microseconds = "remote_round_trip_p99_us"
    }
}

/// Atomic counters and a latency histogram: 4 buckets per power of two of
/// nanoseconds (each bucket at most 25% wide), so a percentile is read to
/// within that and nothing allocates per round trip.
package final class RemoteTierCounters: Sendable {
    package let puts = Atomic<Int>(0)
    package let gets = Atomic<Int>(0)
    package let getHits = Atomic<Int>(0)
    package let errors = Atomic<Int>(0)
    package let bytes = Atomic<Int>(0)
    private static let bucketCount = 64 * 4
    /// Round trips per latency bucket, under one short lock (one add per batch).
    private let buckets = LockedValue([Int](repeating: 0, count: RemoteTierCounters.bucketCount))

    package init() {}

    package static func now() -> UInt64 { MonotonicClock.nanoseconds() }

    /// The bucket of `nanoseconds`: 4 * floor(log2) plus the next two bits.
    package static func bucket(_ nanoseconds: UInt64) -> Int {
        let value = max(nanoseconds, 4)
        let log = 63 - value.leadingZeroBitCount
        let sub = Int((value >> (log - 2)) & 3)
        return log * 4 + sub
    }

    /// The smallest value of a bucket.
    package static func lowerBound(_ bucket: Int) -> Double {
        let log = bucket / 4
        return Double(UInt64(1) << log) * (1 + Double(bucket % 4) / 4)
    }

    package func recordRoundTrip(nanoseconds: UInt64) {
        let bucket = min(Self.bucket(nanoseconds), Self.bucketCount - 1)
        buckets.withLock { $0[bucket] += 1 }
    }

    package func snapshot() -> RemoteTierStatistics {
        var s = RemoteTierStatistics()
        s.remotePuts = puts.load(ordering: .relaxed)
        s.remoteGets = gets.load(ordering: .relaxed)
        s.remoteGetHits = getHits.load(ordering: .relaxed)
        s.remoteErrors = errors.load(ordering: .relaxed)
        s.remoteBytes = bytes.load(ordering: .relaxed)
        let counts = buckets.withLock { $0 }
        s.remoteRoundTrips = counts.reduce(0, +)
        func percentile(_ p: Double) -> Double {
            guard s.remoteRoundTrips > 0 else { return 0 }
            let rank = max(1, Int((Double(s.remoteRoundTrips) * p).rounded(.up)))
            var seen = 0
            for (bucket, count) in counts.enumerated() {
                seen += count
                // The middle of the bucket, in microseconds.
                if seen >= rank {
                    return (Self.lowerBound(bucket) + Self.lowerBound(bucket + 1)) / 2 / 1000
                }
            }
            return 0
        }
        s.remoteRoundTripP50Microseconds = Int(percentile(0.5).rounded())
        s.remoteRoundTripP99Microseconds = Int(percentile(0.99).rounded())
        return s
    }
}

/// Which swap slots' pages live in the remote tier, and keys to delete.
final class RemoteResidency: Sendable {
    private let records = LockedValue<[SwapEntry: UInt64]>([:])
    private let deletes = LockedValue<[RemotePageKey]>([])
    private let generations = Atomic<UInt64>(0)

    /// A generation no earlier write of this cache used.
    func nextGeneration() -> UInt64 { generations.wrappingAdd(1, ordering: .relaxed).newValue }

    func record(_ entry: SwapEntry, generation: UInt64) {
        records.withLock { $0[entry] = generation }
    }

    /// The key of `entry`'s remote page, if it has one.
    func key(of entry: SwapEntry) -> RemotePageKey? {
        guard let generation = records.withLock({ $0[entry] }) else { return nil }
        return RemotePageKey(type: entry.type, offset: entry.offset, generation: generation)
    }

    /// Forgets `entry`'s remote page and returns its key (to delete), if it had one.
    func forget(_ entry: SwapEntry) -> RemotePageKey? {
        guard let generation = records.withLock({ $0.removeValue(forKey: entry) }) else {
            return nil
        }
        return RemotePageKey(type: entry.type, offset: entry.offset, generation: generation)
    }

    var count: Int { records.withLock { $0.count } }

    /// Queues `key` for deletion; returns the whole queue to delete now once
    /// it holds `batch` keys, else nothing.
    func queueDelete(_ key: RemotePageKey, batch: Int) -> [RemotePageKey] {
        deletes.withLock { queue in
            queue.append(key)
            guard queue.count >= batch else { return [] }
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }

    /// Every queued key, leaving the queue empty.
    func takeDeletes() -> [RemotePageKey] {
        deletes.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }
}
