import Synchronization
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The remote tier's counters (JSON keys as the other statistics: snake_case).
public struct RemoteTierStatistics: Sendable, Codable, Equatable {
    /// Pages stored (acknowledged, and replicated as configured).
    public var remotePuts = 0
    /// Pages asked for, and found.
    public var remoteGets = 0, remoteGetHits = 0
    /// Pages whose put or get failed (unreachable, server error, not a page, not replicated).
    public var remoteErrors = 0
    /// Bytes stored, headers included.
    public var remoteBytes = 0
    /// Round trips (one batch of puts or gets) and their latency percentiles, in microseconds.
    public var roundTrips = 0
    public var roundTripP50Microseconds = 0.0
    public var roundTripP99Microseconds = 0.0

    enum CodingKeys: String, CodingKey {
        case remotePuts = "remote_puts", remoteGets = "remote_gets"
        case remoteGetHits = "remote_get_hits", remoteErrors = "remote_errors"
        case remoteBytes = "remote_bytes", roundTrips = "round_trips"
        case roundTripP50Microseconds = "round_trip_p50_us"
        case roundTripP99Microseconds = "round_trip_p99_us"
    }
}

/// Atomic counters and a latency histogram: 4 buckets per power of two of
/// nanoseconds (each bucket at most 25% wide), so a percentile is read to
/// within that and nothing allocates per round trip.
final class RemoteTierCounters: Sendable {
    let puts = Atomic<Int>(0)
    let gets = Atomic<Int>(0)
    let getHits = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let bytes = Atomic<Int>(0)
    private static let bucketCount = 64 * 4
    /// Round trips per latency bucket, under one short lock (one add per batch).
    private let buckets = LockedValue([Int](repeating: 0, count: RemoteTierCounters.bucketCount))

    static func now() -> UInt64 { MonotonicClock.nanoseconds() }

    /// The bucket of `nanoseconds`: 4 * floor(log2) plus the next two bits.
    static func bucket(_ nanoseconds: UInt64) -> Int {
        let value = max(nanoseconds, 4)
        let log = 63 - value.leadingZeroBitCount
        let sub = Int((value >> (log - 2)) & 3)
        return log * 4 + sub
    }

    /// The smallest value of a bucket.
    static func lowerBound(_ bucket: Int) -> Double {
        let log = bucket / 4
        return Double(UInt64(1) << log) * (1 + Double(bucket % 4) / 4)
    }

    func recordRoundTrip(nanoseconds: UInt64) {
        let bucket = min(Self.bucket(nanoseconds), Self.bucketCount - 1)
        buckets.withLock { $0[bucket] += 1 }
    }

    func snapshot() -> RemoteTierStatistics {
        var s = RemoteTierStatistics()
        s.remotePuts = puts.load(ordering: .relaxed)
        s.remoteGets = gets.load(ordering: .relaxed)
        s.remoteGetHits = getHits.load(ordering: .relaxed)
        s.remoteErrors = errors.load(ordering: .relaxed)
        s.remoteBytes = bytes.load(ordering: .relaxed)
        let counts = buckets.withLock { $0 }
        s.roundTrips = counts.reduce(0, +)
        func percentile(_ p: Double) -> Double {
            guard s.roundTrips > 0 else { return 0 }
            let rank = Int((Double(s.roundTrips) * p).rounded(.up))
            var seen = 0
            for (bucket, count) in counts.enumerated() {
                seen += count
                // The middle of the bucket, in microseconds.
                if seen >= max(rank, 1) {
                    return (Self.lowerBound(bucket) + Self.lowerBound(bucket + 1)) / 2 / 1000
                }
            }
            return 0
        }
        s.roundTripP50Microseconds = percentile(0.5)
        s.roundTripP99Microseconds = percentile(0.99)
        return s
    }
}
