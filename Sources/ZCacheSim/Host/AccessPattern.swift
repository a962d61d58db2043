// Which pages the simulated processes touch.
//
// Anonymous accesses pick a page by rank from a Zipf-like distribution (a hot
// set), uniformly, or from a Zipf hot set that moves every phase (so cold pages
// come back and must be swapped in). File accesses are half Zipf over all file
// pages (shared libraries, hot data files) and half sequential scans of a few
// dozen to a few hundred pages (a `grep`, a backup) that are used once.

/// How processes choose anonymous pages.
public enum AccessPattern: String, Sendable, Codable, CaseIterable {
    /// A fixed Zipf(0.9) hot set.
    case zipf
    /// A Zipf(0.9) hot set that shifts to other pages every phase.
    case phased
    /// Every page equally likely.
    case uniform
}

/// The simulator's deterministic random source (SplitMix64).
struct SimRNG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return splitMix(state)
    }

    /// A value in `0..<bound` (bound > 0).
    @inline(__always)
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// A uniform value in [0, 1).
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Samples ranks `0..<n` with probability proportional to `1 / (rank + 1)^s`.
struct ZipfTable {
    private var cdf: [Double]

    init(count n: Int, exponent s: Double) {
        cdf = []
        cdf.reserveCapacity(n)
        var sum = 0.0
        for rank in 0..<n {
            sum += 1 / pow(Double(rank + 1), s)
            cdf.append(sum)
        }
        for i in cdf.indices { cdf[i] /= sum }
    }

    /// A rank drawn from the distribution.
    func sample(_ rng: inout SimRNG) -> Int {
        let u = rng.unit()
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
