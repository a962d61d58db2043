// A get that removes a page while an evictor or writeback has the page's
// per-entry LRU entry isolated (zsmalloc): the get lets go of the object,
// and the isolator then frees it in `finishIsolation`. The get must have
// copied the bytes out before letting go; reading after, it could find the
// object freed (a miss: a swap-in then reads the slot's stale bytes from the
// device) or its memory holding a later object (a wrong or damaged page).
//
// One thread stores and loads a page under one key again and again; the
// other isolates the oldest persistent entry and ends the isolation at once,
// as a writeback pass that finds the entry busy does. Every load must return
// the page just stored.

import Foundation
import Synchronization
import XCTest
import ZBud
import ZCacheSupport

@testable import ZCache

final class IsolatedGetRaceStressTests: XCTestCase {
    func testExclusiveGetOfAnIsolatedEntryReturnsItsPage() throws {
        try race(pool: .persistent)
    }

    func testCleancacheGetOfAnIsolatedEntryReturnsItsPage() throws {
        try race(pool: .ephemeral)
    }

    private func race(pool: ZBudClass) throws {
        var configuration = ZCacheConfiguration()
        configuration.allocator = .zsmalloc
        configuration.pageframes = 64
        configuration.ignoreNonActivePersistentPuts = false
        configuration.ignoreNonActiveEphemeralPuts = false
        let cache = ZCache(configuration: configuration)
        try cache.frontswapInit(type: 0)
        let filesystem = try cache.cleancacheInitFilesystem()
        let rounds = runningUnderSanitizer() ? 10_000 : 30_000
        let done = Atomic<Bool>(false)
        let isolations = Atomic<Int>(0)

        // Joined before the final checks: an isolation that ends after them
        // could free a frame between the counters they compare.
        let isolatorExited = DispatchGroup()
        isolatorExited.enter()
        let isolator = Thread {
            defer { isolatorExited.leave() }
            while !done.load(ordering: .acquiring) {
                cache.withOldestIsolated(pool, upTo: 1) { victims in
                    for victim in victims {
                        cache.store.finishIsolation(victim.handle)
                        isolations.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        isolator.start()
        defer { done.store(true, ordering: .releasing) }

        var misses = 0
        var wrong = 0
        var page = [UInt8](repeating: 0, count: pageSize)
        var loaded = [UInt8](repeating: 0, count: pageSize)
        for round in 0..<rounds {
            // Compressible, and unlike the last round's page.
            for i in stride(from: 0, to: pageSize, by: 64) {
                page[i] = UInt8(truncatingIfNeeded: round &+ i / 64)
            }
            withUnsafeBytes(of: UInt64(round)) { page.replaceSubrange(0..<8, with: $0) }
            let hit: Bool
            if pool == .persistent {
                let result = try page.withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: 1, page: $0)
                }
                XCTAssertEqual(result, .stored)
                hit = try loaded.withUnsafeMutableBytes {
                    try cache.frontswapLoad(type: 0, offset: 1, into: $0)
                }
            } else {
                let stored = try page.withUnsafeBytes {
                    try cache.cleancachePut(filesystem, file: ObjectID(1), index: 0, page: $0)
                }
                XCTAssertTrue(stored)
                hit = try loaded.withUnsafeMutableBytes {
                    try cache.cleancacheGet(filesystem, file: ObjectID(1), index: 0, into: $0)
                }
            }
            if !hit {
                misses += 1
            } else if loaded != page {
                wrong += 1
            }
        }
        done.store(true, ordering: .releasing)
        isolatorExited.wait()
        XCTAssertGreaterThan(isolations.load(ordering: .relaxed), 0, "the isolator never ran")
        XCTAssertEqual(misses, 0, "loads that missed the page just stored (of \(rounds))")
        XCTAssertEqual(wrong, 0, "loads that returned other bytes (of \(rounds))")
        XCTAssertTrue(cache.checkFrameAccounting())
    }
}
