#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The project's one clock: `CLOCK_MONOTONIC`, in nanoseconds.
package enum MonotonicClock {
    /// Now, to the nanosecond (for timing).
    @inline(__always)
    package static func nanoseconds() -> UInt64 { read(CLOCK_MONOTONIC) }

    /// Now, to the scheduler tick (a few ms), and cheaper: for ageing, where
    /// a tick is plenty.
    @inline(__always)
    package static func coarseNanoseconds() -> UInt64 {
        #if os(Linux)
            read(CLOCK_MONOTONIC_COARSE)
        #else
            read(CLOCK_MONOTONIC)
        #endif
    }

    @inline(__always)
    private static func read(_ clock: clockid_t) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
