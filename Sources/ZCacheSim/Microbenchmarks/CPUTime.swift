// CPU time, for microbenchmarks that report it beside wall time (on a shared
// machine, other processes inflate CPU time less than wall time).

import Foundation

enum CPUTime {
    /// CPU time of the calling thread so far, in seconds.
    static func thread() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// User plus system CPU time of the whole process so far, in seconds.
    static func process() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double {
            Double(time.tv_sec) + Double(time.tv_usec) / 1e6
        }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
