// The full-stack model run (every result checked against the reference model,
// faults injected, many threads) under the zswap shrinker policy with a pool
// limit, so that second chances, swap-in feedback, the pool-full writeback and
// the limit's refusals all race with stores, loads and writeback. Run under
// --sanitize=thread with the other `...Stress...` classes.

import XCTest

@testable import ZCache

final class ZswapPolicyStressTests: XCTestCase {
    func testZswapPolicyWithPoolLimitManyThreads() throws {
        var parameters = FullStackParameters.fromEnvironment(
            defaultOperations: runningUnderSanitizer() ? 100_000 : 200_000, threads: 8)
        parameters.checkpoints = 10
        parameters.maxLiveEntriesPerThread = 80
        parameters.shrinkerPolicy = .zswap
        parameters.maxPoolPercent = 75
        let stats = try runFullStack(parameters, name: "ZswapPolicyStressTests")
        XCTAssertGreaterThan(stats.poolLimitHit, 0, "the pool limit refused puts")
        XCTAssertGreaterThan(stats.shrinkerSecondChances, 0, "frames got a second chance")
        XCTAssertGreaterThan(stats.diskSwapIns, 0, "swap-ins from the device were reported")
    }

    /// The same under zsmalloc: the second chance is the per-entry LRU's bit.
    func testZswapPolicyWithPoolLimitManyThreadsZSmalloc() throws {
        var parameters = FullStackParameters.fromEnvironment(
            defaultOperations: runningUnderSanitizer() ? 60_000 : 150_000, threads: 8)
        parameters.checkpoints = 10
        parameters.maxLiveEntriesPerThread = 80
        parameters.allocator = .zsmalloc
        parameters.shrinkerPolicy = .zswap
        parameters.maxPoolPercent = 75
        let stats = try runFullStack(parameters, name: "ZswapPolicyStressTests (zsmalloc)")
        XCTAssertGreaterThan(stats.poolLimitHit, 0, "the pool limit refused puts")
        XCTAssertGreaterThan(stats.shrinkerSecondChances, 0, "entries got a second chance")
        XCTAssertGreaterThan(stats.diskSwapIns, 0, "swap-ins from the device were reported")
    }
}
