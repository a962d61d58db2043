// The bounded pageframe pool: the user-space stand-in for
// `alloc_page(ZCACHE_GFP_MASK)` / `__free_page`.
//
//   base (page-aligned, allocated once)
//   +--------+--------+--------+-- ... --+--------+
//   | frame0 | frame1 | frame2 |         | frameN-1|   4096 bytes each
//   +--------+--------+--------+-- ... --+--------+
//   allocated[i]: is frame i handed out?     freeStack: the frames that are not
//
// `allocate` pops the free stack (lowest frame numbers first on a fresh pool),
// `free` pushes a frame back. Freeing a frame that is not allocated (a double
// free, or a number out of range) is never silent: it traps in checked builds
// and is counted in `invalidFrees` otherwise, and the pool is left unchanged.
// Invariant: allocatedTotal - freedTotal == framesInUse == count of allocated[i].
//
// Locking: one `Lock`, a leaf (nothing else is locked while it is held). ZBud
// never calls the pool; ZCache allocates frames from it and frees the frames
// ZBud hands back.

import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fixed number of 4096-byte frames in one contiguous, page-aligned region,
/// handed out and taken back by frame number.
///
/// Thread-safe.
public final class PageFramePool: @unchecked Sendable {
    /// The number of frames in the pool.
    public let frameCount: Int

    private let base: UnsafeMutableRawPointer
    private let lock = Lock()
    /// Guarded by `lock`: `freeStack[0..<freeCount]` are the free frames.
    private let freeStack: UnsafeMutablePointer<UInt32>
    /// Guarded by `lock`: whether each frame is handed out.
    private let allocated: UnsafeMutablePointer<Bool>
    /// Guarded by `lock`.
    private let state: UnsafeMutablePointer<State>

    private struct State {
        var freeCount: Int
        var allocatedTotal = 0
        var freedTotal = 0
        var invalidFrees = 0
        var injectedFailures = 0
        var trapsOnInvalidFree: Bool
        var shouldFail: (@Sendable () -> Bool)? = nil
    }

    /// Creates a pool of `frameCount` frames, allocating the whole region now.
    public init(frameCount: Int) {
        precondition(frameCount >= 0 && frameCount < 1 << 31, "frame count out of range")
        self.frameCount = frameCount
        base = .allocate(byteCount: max(1, frameCount) * pageSize, alignment: pageSize)
        // Touch every frame once: the pool stands for pageframes that are real
        // RAM, so it is really reserved here, and no store pays a first-touch
        // page fault later.
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, frameCount) * pageSize)
        freeStack = .allocate(capacity: max(1, frameCount))
        allocated = .allocate(capacity: max(1, frameCount))
        for i in 0..<frameCount {
            // Pop order is ascending frame numbers.
            freeStack[i] = UInt32(frameCount - 1 - i)
            allocated[i] = false
        }
        state = .allocate(capacity: 1)
        #if ZCACHE_INTERNAL_CHECKS
            let traps = true
        #else
            let traps = false
        #endif
        state.initialize(to: State(freeCount: frameCount, trapsOnInvalidFree: traps))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        allocated.deallocate()
        freeStack.deallocate()
        base.deallocate()
    }

    /// Takes a free frame, or returns `nil` when every frame is in use or an
    /// injected failure fires (like `alloc_page` failing under pressure).
    @inline(__always)
    public func allocate() -> PageFrameNumber? {
        lock.lock()
        if let shouldFail = state.pointee.shouldFail {
            // Run the test's hook outside the lock.
            lock.unlock()
            if shouldFail() {
                lock.withLock { state.pointee.injectedFailures += 1 }
                return nil
            }
            lock.lock()
        }
        guard state.pointee.freeCount > 0 else {
            lock.unlock()
            return nil
        }
        state.pointee.freeCount -= 1
        let frame = freeStack[state.pointee.freeCount]
        allocated[Int(frame)] = true
        state.pointee.allocatedTotal += 1
        lock.unlock()
        return PageFrameNumber(rawValue: frame)
    }

    /// Gives `frame` back. Freeing a frame that is not allocated traps in checked
    /// builds and is counted in `invalidFrees` (changing nothing else) otherwise.
    @inline(__always)
    public func free(_ frame: PageFrameNumber) {
        let index = Int(frame.rawValue)
        lock.lock()
        guard index < frameCount, allocated[index] else {
            state.pointee.invalidFrees += 1
            let traps = state.pointee.trapsOnInvalidFree
            lock.unlock()
            if traps {
                preconditionFailure("PageFramePool: free of \(frame), which is not allocated")
            }
            return
        }
        allocated[index] = false
        freeStack[state.pointee.freeCount] = frame.rawValue
        state.pointee.freeCount += 1
        state.pointee.freedTotal += 1
        lock.unlock()
    }

    /// The first of the 4096 bytes of `frame`.
    @inline(__always)
    public func address(of frame: PageFrameNumber) -> UnsafeMutableRawPointer {
        precondition(Int(frame.rawValue) < frameCount, "\(frame) is outside the pool")
        return base + Int(frame.rawValue) * pageSize
    }

    /// Frames handed out now.
    public var framesInUse: Int { lock.withLock { frameCount - state.pointee.freeCount } }
    /// Successful allocations since creation.
    public var allocatedTotal: Int { lock.withLock { state.pointee.allocatedTotal } }
    /// Successful frees since creation.
    public var freedTotal: Int { lock.withLock { state.pointee.freedTotal } }
    /// Frees of frames that were not allocated (double frees, bad numbers).
    public var invalidFrees: Int { lock.withLock { state.pointee.invalidFrees } }
    /// Allocations refused by an injected failure.
    public var injectedFailures: Int { lock.withLock { state.pointee.injectedFailures } }

    /// Makes `allocate` fail whenever `shouldFail` returns true (nil: never).
    package func injectAllocationFailures(_ shouldFail: (@Sendable () -> Bool)?) {
        lock.withLock { state.pointee.shouldFail = shouldFail }
    }

    /// Whether an invalid free traps (the default in checked builds) or is only
    /// counted; tests of the counting path turn trapping off.
    package func setTrapsOnInvalidFree(_ traps: Bool) {
        lock.withLock { state.pointee.trapsOnInvalidFree = traps }
    }

    /// Checks the pool's accounting: allocated minus freed equals frames in use,
    /// and the free stack holds exactly the frames not handed out, once each.
    package func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            lock.withLock {
                let s = state.pointee
                precondition(s.freeCount >= 0 && s.freeCount <= frameCount)
                precondition(
                    s.allocatedTotal - s.freedTotal == frameCount - s.freeCount,
                    "pool: allocated \(s.allocatedTotal) - freed \(s.freedTotal) != in use")
                var onStack = [Bool](repeating: false, count: frameCount)
                for i in 0..<s.freeCount {
                    let frame = Int(freeStack[i])
                    precondition(frame < frameCount, "pool: bad frame on the free stack")
                    precondition(!onStack[frame], "pool: frame \(frame) twice on the free stack")
                    precondition(
                        !allocated[frame], "pool: allocated frame \(frame) on the free stack")
                    onStack[frame] = true
                }
                var inUse = 0
                for i in 0..<frameCount where allocated[i] { inUse += 1 }
                precondition(inUse == frameCount - s.freeCount, "pool: allocated bits disagree")
            }
        #endif
    }
}
