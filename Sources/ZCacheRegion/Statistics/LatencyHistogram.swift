/// A log-linear histogram of durations in nanoseconds: 16 buckets per power
/// of two, so a percentile is within about 4 % of the true value, in a fixed
/// 1 KiB whatever the number of samples.
struct LatencyHistogram: Sendable {
    private static let subBucketBits = 4
    private static let subBuckets = 1 << subBucketBits
    private var counts = [UInt32](repeating: 0, count: 64 * subBuckets)
    private(set) var count = 0
    private(set) var maximum: UInt64 = 0

    mutating func record(_ nanoseconds: UInt64) {
        counts[Self.bucket(of: nanoseconds)] &+= 1
        count += 1
        maximum = max(maximum, nanoseconds)
    }

    /// The value below which `fraction` of the samples lie (the middle of its
    /// bucket), 0 when there are none.
    func percentile(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = max(1, Int((fraction * Double(count)).rounded(.up)))
        var seen = 0
        for (bucket, n) in counts.enumerated() where n > 0 {
            seen += Int(n)
            if seen >= rank { return min(maximum, Self.middle(of: bucket)) }
        }
        return maximum
    }

    /// Values below 16 get a bucket each; above, the bucket is the power of
    /// two and the next four bits.
    private static func bucket(of value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        let shift = exponent - subBucketBits
        let mantissa = Int(value >> UInt64(shift)) & (subBuckets - 1)
        return (shift + 1) * subBuckets + mantissa
    }

    private static func middle(of bucket: Int) -> UInt64 {
        if bucket < subBuckets { return UInt64(bucket) }
        let shift = bucket / subBuckets - 1
        let mantissa = UInt64(bucket % subBuckets | subBuckets)
        let low = mantissa << UInt64(shift)
        return low + (UInt64(1) << UInt64(shift)) / 2
    }
}

/// Percentiles of one histogram, for a statistics snapshot.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count = 0
    public var p50Nanoseconds: UInt64 = 0
    public var p90Nanoseconds: UInt64 = 0
    public var p99Nanoseconds: UInt64 = 0
    public var maxNanoseconds: UInt64 = 0

    public init() {}

    init(_ histogram: LatencyHistogram) {
        count = histogram.count
        p50Nanoseconds = histogram.percentile(0.50)
        p90Nanoseconds = histogram.percentile(0.90)
        p99Nanoseconds = histogram.percentile(0.99)
        maxNanoseconds = histogram.maximum
    }
}
