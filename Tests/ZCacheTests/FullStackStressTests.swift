// The full-stack model run with more threads than cores and a smaller operation
// count, for the thread sanitizer pass (CI runs every `...Stress...` class
// under --sanitize=thread). ZCACHE_FULLSTACK_STRESS_OPS overrides the count.

import Foundation
import Synchronization
import XCTest

@testable import ZCache

final class FullStackStressTests: XCTestCase {
    func testFullStackManyThreads() throws {
        try manyThreads(.zbud)
    }

    func testFullStackManyThreadsZSmalloc() throws {
        try manyThreads(.zsmalloc)
    }

    private func manyThreads(_ allocator: ZCacheAllocatorKind) throws {
        let environment = ProcessInfo.processInfo.environment
        var parameters = FullStackParameters.fromEnvironment(
            defaultOperations: runningUnderSanitizer() ? 100_000 : 200_000, threads: 8)
        parameters.operations =
            environment["ZCACHE_FULLSTACK_STRESS_OPS"].flatMap { Int($0) } ?? parameters.operations
        parameters.checkpoints = 10
        parameters.maxLiveEntriesPerThread = 80
        parameters.allocator = allocator
        try runFullStack(parameters, name: "FullStackStressTests (\(allocator))")
    }
}

/// Four threads share a two-slot swap device, so a slot freed by one is at once
/// reused by the other. `swapFree` must invalidate the zcache copy of an entry
/// before the slot can be handed out again; otherwise it flushes the next
/// owner's page and that owner's swap-in reads the stale slot from the device.
final class FullStackSlotReuseStressTests: XCTestCase {
    func testSwapFreeNeverInvalidatesTheNextOwnersPage() throws {
        let cache = ZCache(configuration: ZCacheConfiguration())
        let path =
            NSTemporaryDirectory()
            + "zcache-slot-reuse-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        let device = try SwapDevice.create(path: path, pages: 3)
        try cache.attachSwapDevice(device)
        // Under a sanitizer the spinning on two slots is ~50x slower.
        let rounds = runningUnderSanitizer() ? 400 : 20_000
        let wrong = Atomic<Int>(0)
        let checked = Atomic<Int>(0)
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                var page = [UInt8](repeating: 0, count: pageSize)
                var out = [UInt8](repeating: 0, count: pageSize)
                for round in 0..<rounds {
                    // A compressible page unique to (worker, round).
                    for i in stride(from: 0, to: pageSize, by: 8) {
                        page.withUnsafeMutableBytes {
                            $0.storeBytes(
                                of: UInt64(worker << 32 | round), toByteOffset: i, as: UInt64.self)
                        }
                    }
                    guard
                        let entry = try? page.withUnsafeBytes({
                            try cache.swapOut(page: $0, type: 0)
                        })
                    else { continue }  // both slots busy
                    guard
                        (try? out.withUnsafeMutableBytes({ try cache.swapIn(entry, into: $0) }))
                            != nil
                    else {
                        wrong.add(1, ordering: .relaxed)
                        continue
                    }
                    checked.add(1, ordering: .relaxed)
                    if out != page { wrong.add(1, ordering: .relaxed) }
                }
            }.start()
        }
        group.wait()
        cache.waitForWriteback()
        XCTAssertGreaterThan(checked.load(ordering: .relaxed), rounds / 10)
        XCTAssertEqual(
            wrong.load(ordering: .relaxed), 0, "pages lost to a late swapFree invalidate")
        XCTAssertEqual(device.slots.usedSlots, 0)
    }
}
