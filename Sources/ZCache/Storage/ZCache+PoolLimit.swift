// The pool limit with hysteresis, after zswap's `zswap_check_limits`:
//
//   frames in use >= max          -> refuse, pool_limit_hit += 1, reached_full = true
//   reached_full and in use > thr -> refuse (the pool has not drained enough)
//   reached_full and in use <= thr-> reached_full = false, accept
//   otherwise                     -> accept
//
//   max = host RAM * maxPoolPercent / 100
//   thr = max * acceptThresholdPercent / 100
//
// Without the threshold, a full pool would accept a put each time one frame
// was freed and refuse the next: the hysteresis makes it refuse until a real
// share of the pool is gone. Frames in use is the cheap counter sum, not a
// statistics snapshot, since this runs on every put.

import Synchronization

/// Whether the pool limit was hit and the pool has not yet fallen below the
/// accept threshold (zswap's `zswap_pool_reached_full`).
final class PoolLimitState: Sendable {
    let reachedFull = Atomic<Bool>(false)
}

extension ZCache {
    /// Pageframes zcache holds now (ephemeral, persistent, and those gathered
    /// by writeback): the frames the host's RAM loses to the cache. Cheap:
    /// relaxed atomic loads, no lock (zbud's levels, or zsmalloc's counts).
    public var pageframesInUse: Int {
        store.framesInUse + counters.writebackFramesHeld.value
    }

    /// The most pageframes the pool may hold under `maxPoolPercent`.
    public var poolLimitPageframes: Int {
        let ram = host?.ramPages ?? configuration.pageframes
        return ram * min(100, max(0, configuration.maxPoolPercent)) / 100
    }

    /// Whether the pool limit refuses a put now (see the rules above).
    func poolLimitRefusesPut() -> Bool {
        guard configuration.maxPoolPercent < 100 else { return false }
        let limit = poolLimitPageframes
        let inUse = pageframesInUse
        if inUse >= limit {
            counters.poolLimitHit.increment()
            poolLimit.reachedFull.store(true, ordering: .relaxed)
            return true
        }
        guard poolLimit.reachedFull.load(ordering: .relaxed) else { return false }
        let threshold = limit * min(100, max(0, configuration.acceptThresholdPercent)) / 100
        if inUse <= threshold {
            poolLimit.reachedFull.store(false, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Whether the pool is between hitting its limit and falling below the
    /// accept threshold (puts are being refused).
    public var isPoolLimitReached: Bool { poolLimit.reachedFull.load(ordering: .relaxed) }
}
