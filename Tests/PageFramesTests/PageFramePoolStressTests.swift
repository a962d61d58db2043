import Dispatch
import XCTest
import ZCacheSupport

@testable import PageFrames

/// Threads allocating, writing, checking and freeing frames while batches go
/// back to the OS: no frame is ever held by two threads (each writes its own
/// pattern over the whole frame and checks it before freeing), a frame being
/// given back is never handed out, and the counters balance. Run under TSan too.
final class PageFramePoolStressTests: XCTestCase {
    func testConcurrentAllocateFreeWithReleases() {
        let pool = PageFramePool(frameCount: 512)
        let threads = 4
        let rounds = 4_000
        let corrupted = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var rng = SplitMix64(seed: UInt64(thread) + 1)
            var held: [(PageFrameNumber, UInt64)] = []
            for round in 0..<rounds {
                if held.count < 150, rng.next() % 3 != 0, let frame = pool.allocate() {
                    let tag = UInt64(thread) << 32 | UInt64(round)
                    let words = pool.address(of: frame).bindMemory(to: UInt64.self, capacity: 512)
                    for k in 0..<512 { words[k] = tag &+ UInt64(k) }
                    held.append((frame, tag))
                } else if !held.isEmpty {
                    let (frame, tag) = held.remove(at: Int(rng.next() % UInt64(held.count)))
                    let words = pool.address(of: frame).bindMemory(to: UInt64.self, capacity: 512)
                    if (0..<512).contains(where: { words[$0] != tag &+ UInt64($0) }) {
                        corrupted.withLock { $0 += 1 }
                    }
                    pool.free(frame)
                }
                if thread == 0, round % 500 == 0 { pool.releaseFreeFrames(keeping: 0) }
            }
            for (frame, _) in held { pool.free(frame) }
        }
        XCTAssertEqual(corrupted.withLock { $0 }, 0)
        XCTAssertEqual(pool.framesInUse, 0)
        XCTAssertEqual(pool.allocatedTotal, pool.freedTotal)
        XCTAssertGreaterThan(pool.framesReturnedToOS, 0)
        pool.checkInvariants()
    }
}
