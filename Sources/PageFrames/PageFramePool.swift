// The bounded pageframe pool: the user-space stand-in for
// `alloc_page(ZCACHE_GFP_MASK)` / `__free_page`, with frames taken from the
// kernel when first used and given back when they stay free.
//
//   base (page-aligned address space for frameCount frames, mmap MAP_NORESERVE)
//   +--------+--------+--------+-- ... --+--------+-- ... --+--------+
//   | frame0 | frame1 | frame2 |         |  next  |  fresh  |frameN-1|   4096 bytes each
//   +--------+--------+--------+-- ... --+--------+-- ... --+--------+
//    handed out, recently freed or released   ^ freshFrom: never touched from here on
//
//   state[frame]  .fresh      (0: all-zero metadata) never handed out, not resident
//                 .allocated  handed out
//                 .recent     free, still resident: on `recent`, a FIFO ring
//                 .releasing  free, taken off `recent`, being madvised: not to be handed out
//                 .released   free, given back to the OS: on the `released` stack
//
// `allocate` takes, in this order, the most recently freed frame (`recent`'s
// tail: its memory is still resident and probably cached), a released frame,
// then the lowest fresh frame (so a fresh pool hands out 0, 1, 2, ...).
// `free` appends to `recent`, stamping the frame with the (coarse) time. When more
// than `residentFreeReserve + releaseBatch` frames are recent and the oldest has
// stayed free for `releaseAfterIdle`, the freeing thread takes the oldest ones
// beyond the reserve that have been idle that long off the ring (marking them
// `.releasing`), drops the lock, gives them back with `madvise(MADV_DONTNEED)`,
// and retakes the lock to push them on `released`. So the system call is
// batched and never runs under the pool lock, and a cache that frees and
// refills its frames within the idle time (a burst of loads, then stores)
// pays no page fault for frames it was about to take again; frames that stay
// free go back. `releaseIdleFrames()` (the idle ones) and
// `releaseFreeFrames(keeping:)` (all beyond a count, idle or not) do the same
// on demand, for an owner whose pool no longer frees anything (ZCache's
// shrinker scan calls `releaseIdleFrames()`, so an idle cache gives its free
// frames back at its next scan).
//
// Every array here is sized for the maximum but lives in a `ReservedRegion`, so
// an empty pool's resident memory is a few pages whatever its size.
//
// Freeing a frame that is not allocated (a double free, or a number out of
// range) is never silent: it traps in checked builds and is counted in
// `invalidFrees` otherwise, and the pool is left unchanged.
// Invariant: allocatedTotal - freedTotal == framesInUse == count of .allocated.
//
// Locking: one `Lock`, a leaf (nothing else is locked while it is held). ZBud
// never calls the pool; ZCache allocates frames from it and frees the frames
// ZBud hands back; ZSmalloc allocates and frees zspage frames itself.

import ZCacheSupport

/// A fixed maximum of 4096-byte frames in one contiguous, page-aligned region,
/// handed out and taken back by frame number; resident only while in use (plus
/// a small reserve of recently freed frames).
///
/// Thread-safe.
public final class PageFramePool: @unchecked Sendable {
    /// The number of frames in the pool.
    public let frameCount: Int
    /// Free frames kept resident for quick reuse before any goes back to the OS.
    public static let residentFreeReserve = 64
    /// Frames given back to the OS per `madvise` batch.
    public static let releaseBatch = 32
    /// How long a free frame beyond the reserve stays resident by default.
    public static let defaultReleaseAfterIdleMilliseconds = 1000
    /// How long a free frame beyond the reserve stays resident before `free`
    /// gives it back (0: at once).
    public let releaseAfterIdleNanoseconds: UInt64

    private let frames: ReservedRegion
    private let base: UnsafeMutableRawPointer
    private let lock = Lock()
    /// Metadata, all in one reservation. Guarded by `lock`.
    private let metadata: ReservedRegion
    private let state: UnsafeMutablePointer<FrameState>
    /// The `recent` ring: `recentRing[(recentHead + i) % frameCount]`, i < recentCount.
    private let recentRing: UnsafeMutablePointer<UInt32>
    /// The `released` stack: `releasedStack[0..<releasedCount]`.
    private let releasedStack: UnsafeMutablePointer<UInt32>
    /// When each recent frame was freed (coarse monotonic nanoseconds).
    private let freedAt: UnsafeMutablePointer<UInt64>
    private let counters: UnsafeMutablePointer<Counters>

    private enum FrameState: UInt8 {
        case fresh = 0, allocated, recent, releasing, released
    }

    private struct Counters {
        var freshFrom = 0
        var recentHead = 0
        var recentCount = 0
        var releasingCount = 0
        var releasedCount = 0
        var allocatedTotal = 0
        var freedTotal = 0
        var invalidFrees = 0
        var injectedFailures = 0
        var framesReturnedToOS = 0
        var trapsOnInvalidFree = false
        var shouldFail: (@Sendable () -> Bool)? = nil
    }

    /// Reserves address space for `frameCount` frames; nothing is committed yet.
    /// Traps only if the address space cannot be reserved; use
    /// `reserving(frameCount:)` to get that as an error instead.
    public convenience init(
        frameCount: Int,
        releaseAfterIdleMilliseconds: Int = PageFramePool.defaultReleaseAfterIdleMilliseconds
    ) {
        do {
            try self.init(
                validatedFrameCount: frameCount,
                releaseAfterIdleMilliseconds: releaseAfterIdleMilliseconds)
        } catch {
            fatalError("PageFramePool: \(error)")
        }
    }

    /// A pool of `frameCount` frames, or `.addressSpaceUnavailable` when the
    /// kernel refuses the reservation (e.g. under a small `ulimit -v`).
    public static func reserving(
        frameCount: Int,
        releaseAfterIdleMilliseconds: Int = PageFramePool.defaultReleaseAfterIdleMilliseconds
    ) throws(PageFramePoolError) -> PageFramePool {
        try PageFramePool(
            validatedFrameCount: frameCount,
            releaseAfterIdleMilliseconds: releaseAfterIdleMilliseconds)
    }

    private init(validatedFrameCount frameCount: Int, releaseAfterIdleMilliseconds: Int)
        throws(PageFramePoolError)
    {
        precondition(frameCount >= 0 && frameCount < 1 << 31, "frame count out of range")
        precondition(
            (0...86_400_000).contains(releaseAfterIdleMilliseconds), "idle time out of range")
        self.frameCount = frameCount
        releaseAfterIdleNanoseconds = UInt64(releaseAfterIdleMilliseconds) * 1_000_000
        frames = try ReservedRegion(byteCount: max(1, frameCount) * pageSize)
        base = frames.base
        let slots = max(1, frameCount)
        let countersOffset = 0
        let stateOffset = MemoryLayout<Counters>.stride
        let ringOffset = (stateOffset + slots + 3) & ~3
        let stackOffset = ringOffset + slots * 4
        let freedAtOffset = (stackOffset + slots * 4 + 7) & ~7
        metadata = try ReservedRegion(byteCount: freedAtOffset + slots * 8)
        counters = (metadata.base + countersOffset).bindMemory(to: Counters.self, capacity: 1)
        state = (metadata.base + stateOffset).bindMemory(to: FrameState.self, capacity: slots)
        recentRing = (metadata.base + ringOffset).bindMemory(to: UInt32.self, capacity: slots)
        releasedStack = (metadata.base + stackOffset).bindMemory(to: UInt32.self, capacity: slots)
        freedAt = (metadata.base + freedAtOffset).bindMemory(to: UInt64.self, capacity: slots)
        #if ZCACHE_INTERNAL_CHECKS
            let traps = true
        #else
            let traps = false
        #endif
        counters.initialize(to: Counters(trapsOnInvalidFree: traps))
    }

    deinit {
        counters.deinitialize(count: 1)
    }

    /// Takes a free frame, or returns `nil` when every frame is in use (or being
    /// given back) or an injected failure fires (like `alloc_page` failing under
    /// pressure). A frame that was never used or was given back reads as zeros.
    @inline(__always)
    public func allocate() -> PageFrameNumber? {
        lock.lock()
        if let shouldFail = counters.pointee.shouldFail {
            // Run the test's hook outside the lock.
            lock.unlock()
            if shouldFail() {
                lock.withLock { counters.pointee.injectedFailures += 1 }
                return nil
            }
            lock.lock()
        }
        let frame: Int
        if counters.pointee.recentCount > 0 {
            counters.pointee.recentCount -= 1
            let slot = (counters.pointee.recentHead + counters.pointee.recentCount) % frameCount
            frame = Int(recentRing[slot])
        } else if counters.pointee.releasedCount > 0 {
            counters.pointee.releasedCount -= 1
            frame = Int(releasedStack[counters.pointee.releasedCount])
        } else if counters.pointee.freshFrom < frameCount {
            frame = counters.pointee.freshFrom
            counters.pointee.freshFrom += 1
        } else {
            lock.unlock()
            return nil
        }
        state[frame] = .allocated
        counters.pointee.allocatedTotal += 1
        lock.unlock()
        return PageFrameNumber(rawValue: UInt32(frame))
    }

    /// Gives `frame` back. Freeing a frame that is not allocated traps in checked
    /// builds and is counted in `invalidFrees` (changing nothing else) otherwise.
    /// May give a batch of long-free frames back to the OS, outside the lock.
    @inline(__always)
    public func free(_ frame: PageFrameNumber) {
        let index = Int(frame.rawValue)
        lock.lock()
        guard index < frameCount, state[index] == .allocated else {
            counters.pointee.invalidFrees += 1
            let traps = counters.pointee.trapsOnInvalidFree
            lock.unlock()
            if traps {
                preconditionFailure("PageFramePool: free of \(frame), which is not allocated")
            }
            return
        }
        let now = MonotonicClock.coarseNanoseconds()
        state[index] = .recent
        freedAt[index] = now
        let tail = (counters.pointee.recentHead + counters.pointee.recentCount) % frameCount
        recentRing[tail] = frame.rawValue
        counters.pointee.recentCount += 1
        counters.pointee.freedTotal += 1
        let oldest = Int(recentRing[counters.pointee.recentHead])
        let releaseDue =
            counters.pointee.recentCount > Self.residentFreeReserve + Self.releaseBatch
            && now &- freedAt[oldest] >= releaseAfterIdleNanoseconds
        lock.unlock()
        if releaseDue { releaseIdleFrames() }
    }

    /// Gives the free frames beyond the reserve that have stayed free for
    /// `releaseAfterIdleNanoseconds` back to the OS; returns how many. `free`
    /// calls it; an owner whose pool has stopped freeing may call it too.
    @discardableResult
    public func releaseIdleFrames() -> Int {
        releaseFreeFrames(keeping: Self.residentFreeReserve, idleFor: releaseAfterIdleNanoseconds)
    }

    /// Gives every free frame beyond the `keeping` most recently freed that has
    /// been free for at least `idleFor` nanoseconds back to the OS
    /// (`madvise(MADV_DONTNEED)`, outside the lock); returns how many. With the
    /// defaults, every free frame beyond the reserve; with 0, all of them.
    @discardableResult
    public func releaseFreeFrames(
        keeping: Int = PageFramePool.residentFreeReserve, idleFor: UInt64 = 0
    ) -> Int {
        // Take the oldest recent frames off the ring under the lock...
        var batch: [UInt32] = []
        let now = MonotonicClock.coarseNanoseconds()
        lock.withLock {
            while counters.pointee.recentCount > max(0, keeping) {
                let frame = recentRing[counters.pointee.recentHead]
                guard now &- freedAt[Int(frame)] >= idleFor else { break }
                counters.pointee.recentHead = (counters.pointee.recentHead + 1) % frameCount
                counters.pointee.recentCount -= 1
                counters.pointee.releasingCount += 1
                state[Int(frame)] = .releasing
                batch.append(frame)
            }
        }
        guard !batch.isEmpty else { return 0 }
        // ...give their memory back without it, one call per run of adjacent frames...
        batch.sort()
        var runStart = 0
        for i in 1...batch.count where i == batch.count || batch[i] != batch[i - 1] + 1 {
            frames.release(
                offset: Int(batch[runStart]) * pageSize, length: (i - runStart) * pageSize)
            runStart = i
        }
        // ...and only then let them be handed out again.
        lock.withLock {
            for frame in batch {
                state[Int(frame)] = .released
                releasedStack[counters.pointee.releasedCount] = frame
                counters.pointee.releasedCount += 1
            }
            counters.pointee.releasingCount -= batch.count
            counters.pointee.framesReturnedToOS += batch.count
        }
        return batch.count
    }

    /// The first of the 4096 bytes of `frame`.
    @inline(__always)
    public func address(of frame: PageFrameNumber) -> UnsafeMutableRawPointer {
        precondition(Int(frame.rawValue) < frameCount, "\(frame) is outside the pool")
        return base + Int(frame.rawValue) * pageSize
    }

    /// Frames handed out now.
    public var framesInUse: Int {
        lock.withLock { counters.pointee.allocatedTotal - counters.pointee.freedTotal }
    }
    /// Successful allocations since creation.
    public var allocatedTotal: Int { lock.withLock { counters.pointee.allocatedTotal } }
    /// Successful frees since creation.
    public var freedTotal: Int { lock.withLock { counters.pointee.freedTotal } }
    /// Frees of frames that were not allocated (double frees, bad numbers).
    public var invalidFrees: Int { lock.withLock { counters.pointee.invalidFrees } }
    /// Allocations refused by an injected failure.
    public var injectedFailures: Int { lock.withLock { counters.pointee.injectedFailures } }
    /// Frames given back to the OS with `madvise` since creation.
    public var framesReturnedToOS: Int { lock.withLock { counters.pointee.framesReturnedToOS } }
    /// Free frames still resident (recently freed, kept for reuse).
    public var residentFreeFrames: Int { lock.withLock { counters.pointee.recentCount } }

    /// Bytes of the frame region resident now, as the kernel reports them
    /// (`mincore`): frames in use that were written, plus the resident free reserve.
    public var residentBytes: Int { frames.residentBytes() }
    /// Bytes of the pool's own metadata resident now (`mincore`).
    public var metadataResidentBytes: Int { metadata.residentBytes() }

    /// Makes `allocate` fail whenever `shouldFail` returns true (nil: never).
    package func injectAllocationFailures(_ shouldFail: (@Sendable () -> Bool)?) {
        lock.withLock { counters.pointee.shouldFail = shouldFail }
    }

    /// Whether an invalid free traps (the default in checked builds) or is only
    /// counted; tests of the counting path turn trapping off.
    package func setTrapsOnInvalidFree(_ traps: Bool) {
        lock.withLock { counters.pointee.trapsOnInvalidFree = traps }
    }

    /// Checks the pool's accounting: allocated minus freed equals frames in use;
    /// the recent ring and the released stack hold exactly the frames in those
    /// states, once each; fresh frames are exactly those from `freshFrom` on.
    package func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            lock.withLock {
                let c = counters.pointee
                precondition(c.freshFrom >= 0 && c.freshFrom <= frameCount)
                precondition(c.recentCount >= 0 && c.releasedCount >= 0 && c.releasingCount >= 0)
                var byState = [Int](repeating: 0, count: 5)
                for frame in 0..<frameCount {
                    let s = state[frame]
                    byState[Int(s.rawValue)] += 1
                    precondition(
                        (s == .fresh) == (frame >= c.freshFrom),
                        "pool: frame \(frame) is \(s) but freshFrom is \(c.freshFrom)")
                }
                let inUse = c.allocatedTotal - c.freedTotal
                precondition(
                    byState[Int(FrameState.allocated.rawValue)] == inUse,
                    "pool: allocated \(c.allocatedTotal) - freed \(c.freedTotal) != frames allocated"
                )
                precondition(byState[Int(FrameState.recent.rawValue)] == c.recentCount)
                precondition(byState[Int(FrameState.releasing.rawValue)] == c.releasingCount)
                precondition(byState[Int(FrameState.released.rawValue)] == c.releasedCount)
                var seen = [Bool](repeating: false, count: frameCount)
                for i in 0..<c.recentCount {
                    let frame = Int(recentRing[(c.recentHead + i) % frameCount])
                    precondition(state[frame] == .recent, "pool: \(frame) on recent ring")
                    precondition(!seen[frame], "pool: \(frame) twice on a free list")
                    seen[frame] = true
                }
                for i in 0..<c.releasedCount {
                    let frame = Int(releasedStack[i])
                    precondition(state[frame] == .released, "pool: \(frame) on released stack")
                    precondition(!seen[frame], "pool: \(frame) twice on a free list")
                    seen[frame] = true
                }
            }
        #endif
    }
}
