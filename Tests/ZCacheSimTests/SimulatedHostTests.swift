import XCTest
import ZCacheSupport

@testable import ZCacheSim

/// The host on its own, over the in-memory stand-in for the swap paths.
final class SimulatedHostTests: XCTestCase {
    func smallConfiguration() -> HostConfiguration {
        var c = HostConfiguration()
        c.ramPages = 512
        c.processes = 3
        c.anonPagesPerProcess = 400
        c.files = 2
        c.pagesPerFile = 200
        c.steps = 40_000
        c.phaseLength = 5_000
        c.seed = 7
        return c
    }

    func testEveryReadVerifiesAndReclaimHappens() {
        let c = smallConfiguration()
        let paths = InMemorySwapPaths(cacheCapacity: 300)
        let ram = HostRAM(totalPages: c.ramPages, reservePages: c.minWatermark)
        let host = SimulatedHost(
            configuration: c, content: .generator(seed: 3), paths: paths, ram: ram)
        let counters = host.run()
        XCTAssertEqual(counters.lostPages, 0)
        XCTAssertGreaterThan(counters.swapOuts, 0)
        XCTAssertGreaterThan(counters.swapInsFromCompressedCache, 0)
        XCTAssertGreaterThan(counters.swapInsFromDevice, 0)
        XCTAssertGreaterThan(counters.cleancacheHits, 0)
        XCTAssertGreaterThan(counters.promotions, 0)
        XCTAssertGreaterThan(counters.demotions, 0)
        XCTAssertGreaterThan(paths.shrinkCalls, 0)
        // Every page swapped in (during the run and by the final read-back) was checked.
        XCTAssertEqual(counters.verifiedPages, counters.swapIns + counters.cleancacheHits)
        XCTAssertEqual(counters.swapIns, counters.swapOuts)
        // RAM never overcommitted beyond the watermarks' slack.
        XCTAssertGreaterThanOrEqual(ram.freePages, 0)
        XCTAssertTrue(host.lru.checkInvariants())
    }

    /// A stand-in that returns the wrong bytes once: the host must notice.
    final class CorruptingPaths: SwapPaths {
        let inner = InMemorySwapPaths(cacheCapacity: 100)
        var corrupted = false
        func swapOut(_ page: UnsafeRawBufferPointer, wasActive: Bool) throws -> Int {
            try inner.swapOut(page, wasActive: wasActive)
        }
        func swapIn(_ entry: Int, into page: UnsafeMutableRawBufferPointer) throws -> SwapInOrigin {
            let origin = try inner.swapIn(entry, into: page)
            if !corrupted {
                corrupted = true
                page[100] ^= 0xFF
            }
            return origin
        }
        func swapFree(_ entry: Int) { inner.swapFree(entry) }
        func cleancachePut(
            file: UInt32, index: UInt32, page: UnsafeRawBufferPointer, wasActive: Bool
        ) {}
        func cleancacheGet(file: UInt32, index: UInt32, into page: UnsafeMutableRawBufferPointer)
            -> Bool
        { false }
        func shrink(counts: LRUCounts) {}
        var framesInUse: Int { inner.framesInUse }
        func quiesce() {}
    }

    func testACorruptedSwapInIsCountedLost() {
        let c = smallConfiguration()
        let paths = CorruptingPaths()
        let host = SimulatedHost(
            configuration: c, content: .generator(seed: 3), paths: paths,
            ram: HostRAM(totalPages: c.ramPages, reservePages: c.minWatermark))
        let counters = host.run()
        XCTAssertTrue(paths.corrupted)
        XCTAssertEqual(counters.lostPages, 1)
    }

    func testLRUListsAgainstAModel() {
        var lists = LRULists(capacity: 64)
        var model: [[Int]] = Array(repeating: [], count: 4)  // head first
        var rng = SimRNG(seed: 11)
        for _ in 0..<5_000 {
            let page = rng.below(64)
            let list = LRUList.allCases[rng.below(4)]
            for i in model.indices { model[i].removeAll { $0 == page } }
            if rng.below(3) == 0 {
                lists.remove(page)
            } else {
                lists.moveToHead(page, of: list)
                model[Int(list.rawValue)].insert(page, at: 0)
            }
            for l in LRUList.allCases {
                XCTAssertEqual(lists.count(l), model[Int(l.rawValue)].count)
                XCTAssertEqual(lists.tail(l), model[Int(l.rawValue)].last)
            }
        }
        XCTAssertTrue(lists.checkInvariants())
    }
}
