import Synchronization
import ZBud

/// Every zcache counter, as atomics. One instance per cache; `snapshot` in
/// `ZCacheStatistics.swift` turns it into the public value.
final class ZCacheCounters: Sendable {
    // Levels (with maxima).
    let ephPageframes = Gauge()
    let persPageframes = Gauge()
    let ephZPages = Gauge()
    let persZPages = Gauge()
    let ephZBytes = Gauge()
    let persZBytes = Gauge()
    let zeroFilledPages = Gauge()
    let sameFilledPages = Gauge()
    let outstandingWritebackPages = Gauge()
    /// Frames (or host pages) held by writeback between gathering and completion.
    let writebackFramesHeld = Gauge()

    // Events.
    let evictedEphZPages = EventCounter()
    let evictedEphPageframes = EventCounter()
    let ephAteTail = EventCounter()
    let ephAteTailFailed = EventCounter()
    let persAteEph = EventCounter()
    let persAteEphFailed = EventCounter()
    let compressPoor = EventCounter()
    let meanCompressPoor = EventCounter()
    let failedEphPuts = EventCounter()
    let failedPersPuts = EventCounter()
    let failedAlloc = EventCounter()
    let putToFlush = EventCounter()
    let ephNonactivePutsIgnored = EventCounter()
    let persNonactivePutsIgnored = EventCounter()
    let writtenbackPages = EventCounter()
    let writebackWriteErrors = EventCounter()
    let writebackRetries = EventCounter()
    let writebackCapReached = EventCounter()
    let writebackDroppedStale = EventCounter()
    let writebackSwapCacheExisted = EventCounter()
    let decompressErrors = EventCounter()
    let badInputErrors = EventCounter()
    let ephGets = EventCounter()
    let ephGetHits = EventCounter()
    let persGets = EventCounter()
    let persGetHits = EventCounter()
    let shrinkerScans = EventCounter()
    let incompressibleStored = EventCounter()
    let pagesCompacted = EventCounter()
    let shrinkerSecondChances = EventCounter()
    let poolLimitHit = EventCounter()
    /// Swap-ins from the device the host reported and the zswap-policy
    /// shrinker has not yet consumed (the kernel's `nr_disk_swapins`).
    let pendingDiskSwapIns = Atomic<Int>(0)
    let diskSwapInsReported = EventCounter()

    // The LRU counts the last shrinker scan saw.
    let lastActiveFilePageframes = Atomic<Int>(0)
    let lastInactiveFilePageframes = Atomic<Int>(0)
    let lastActiveAnonPageframes = Atomic<Int>(0)
    let lastInactiveAnonPageframes = Atomic<Int>(0)

    init() {}

    @inline(__always)
    func addPageframes(_ amount: Int, _ zbudClass: ZBudClass) {
        if zbudClass == .ephemeral { ephPageframes.add(amount) } else { persPageframes.add(amount) }
    }

    @inline(__always)
    func addZPage(_ count: Int, bytes: Int, _ zbudClass: ZBudClass) {
        if zbudClass == .ephemeral {
            ephZPages.add(count)
            ephZBytes.add(bytes)
        } else {
            persZPages.add(count)
            persZBytes.add(bytes)
        }
    }
}
