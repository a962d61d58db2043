import Synchronization

/// An event counter (only grows). Relaxed atomics: counters order nothing.
struct EventCounter: ~Copyable {
    private let atomic = Atomic<Int>(0)

    /// Returns the new count (so a caller can act on the first event only).
    @inline(__always) @discardableResult
    func increment(by amount: Int = 1) -> Int {
        atomic.wrappingAdd(amount, ordering: .relaxed).newValue
    }

    var value: Int { atomic.load(ordering: .relaxed) }
}

/// A level that goes up and down, with its high-water mark (the kernel's
/// `inc_zcache_*` helpers that also raise `*_max`).
struct Gauge: ~Copyable {
    fileprivate let atomic = Atomic<Int>(0)
    fileprivate let peak = Atomic<Int>(0)

    @inline(__always)
    func add(_ amount: Int) {
        let now = atomic.wrappingAdd(amount, ordering: .relaxed).newValue
        if amount > 0 { raisePeak(to: now) }
    }

    @inline(__always)
    func raisePeak(to now: Int) {
        var seen = peak.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = peak.compareExchange(
                expected: seen, desired: now, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
    }

    var value: Int { atomic.load(ordering: .relaxed) }
    var max: Int { peak.load(ordering: .relaxed) }
}

extension Gauge {
    /// Adds up to `amount` without letting the level pass `limit`; returns how
    /// much was added (0 when the level is already at the limit). This is how the
    /// outstanding-writeback cap stays a hard bound under concurrency.
    @inline(__always)
    func reserve(upTo amount: Int, limit: Int) -> Int {
        var current = atomic.load(ordering: .relaxed)
        while true {
            let granted = Swift.min(amount, limit - current)
            guard granted > 0 else { return 0 }
            let (exchanged, original) = atomic.compareExchange(
                expected: current, desired: current + granted, ordering: .relaxed)
            if exchanged {
                raisePeak(to: current + granted)
                return granted
            }
            current = original
        }
    }
}
