// Concurrency stress: run under `swift test --sanitize=thread --filter Stress`.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapDeviceStressTests: XCTestCase {
    func testTwoThreadsRacingToPrepareTheSameEntryExactlyOneWins() throws {
        let map = SwapSlotMap(type: 0, slotCount: 4)
        let entry = try XCTUnwrap(map.allocate())
        XCTAssertTrue(map.duplicate(entry))
        map.swapcacheFree(entry)  // in use by a page table, not cached
        for round in 0..<1500 {
            let outcomes = LockedValue<[SwapcachePrepareResult]>([])
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                let outcome = map.swapcachePrepare(entry)
                outcomes.withLock { $0.append(outcome) }
            }
            let results = outcomes.withLock { $0 }
            XCTAssertEqual(
                results.filter { $0 == .prepared }.count, 1, "round \(round): \(results)")
            XCTAssertEqual(results.filter { $0 == .alreadyPrepared }.count, 1, "round \(round)")
            map.swapcacheFree(entry)
        }
        XCTAssertEqual(map.badFrees, 0)
    }

    func testConcurrentAllocationNeverHandsOutASlotTwice() throws {
        let map = SwapSlotMap(type: 0, slotCount: 200)
        let owned = LockedValue(Set<UInt64>())
        let doubleHandOuts = LockedValue(0)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            var generator = SeededGenerator(seed: UInt64(worker) + 1)
            var mine: [SwapEntry] = []
            for _ in 0..<4000 {
                if Bool.random(using: &generator), let entry = map.allocate() {
                    let fresh = owned.withLock { $0.insert(entry.offset).inserted }
                    if !fresh { doubleHandOuts.withLock { $0 += 1 } }
                    mine.append(entry)
                } else if let entry = mine.popLast() {
                    owned.withLock { _ = $0.remove(entry.offset) }
                    map.swapcacheFree(entry)
                }
            }
            for entry in mine {
                owned.withLock { _ = $0.remove(entry.offset) }
                map.swapcacheFree(entry)
            }
        }
        XCTAssertEqual(doubleHandOuts.withLock { $0 }, 0)
        XCTAssertEqual(map.usedSlots, 0)
        XCTAssertEqual(map.freeSlots, 199)
        XCTAssertEqual(map.badFrees, 0)
    }

    /// The slot states change by compare-and-swap without a lock: threads that
    /// take and drop references and has-cache bits of the same entries at once
    /// must lose no change, and every slot must become free exactly once (it
    /// is then handed out exactly once again).
    func testConcurrentReferenceAndCacheChangesLoseNothing() throws {
        let slotCount = 64
        let workers = 4
        let map = SwapSlotMap(type: 0, slotCount: slotCount)
        for round in 0..<40 {
            var entries: [SwapEntry] = []
            while let entry = map.allocate() { entries.append(entry) }
            XCTAssertEqual(entries.count, slotCount - 1, "round \(round)")
            for entry in entries {
                for _ in 0..<workers { XCTAssertTrue(map.duplicate(entry)) }
                map.swapcacheFree(entry)  // each entry: one reference per worker
            }
            let shared = entries
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for entry in worker % 2 == 0 ? shared : shared.reversed() {
                    // A swap-in of a second reference, or a plain free of it.
                    XCTAssertTrue(map.duplicate(entry))
                    if map.swapcachePrepare(entry) == .prepared {
                        _ = map.endSwapIn(entry, keepCacheWhenShared: false)
                    } else {
                        map.free(entry)
                    }
                    if !map.freeUnlessLast(entry) {
                        // The last reference: drop it under the has-cache bit,
                        // as ZCache.swapFree does, or plainly when it is held.
                        if map.swapcachePrepare(entry) == .prepared {
                            map.free(entry)
                            map.swapcacheFree(entry)
                        } else {
                            map.free(entry)
                        }
                    }
                }
            }
            XCTAssertEqual(map.usedSlots, 0, "round \(round)")
            XCTAssertEqual(map.freeSlots, slotCount - 1, "round \(round)")
            XCTAssertEqual(map.badFrees, 0, "round \(round)")
            for entry in entries {
                XCTAssertEqual(map.useCount(entry), 0)
                XCTAssertFalse(map.hasCache(entry))
            }
        }
    }

    func testConcurrentSubmittersDrainersAndSwapInsDuringWriteback() throws {
        let device = try makeDevice(self, pages: 1024, configuration: configuration(queueDepth: 32))
        let writers = 3
        let perWriter = 150
        let errors = LockedValue(0)
        let seenIntact = LockedValue(0)
        let seenCorrupt = LockedValue(0)
        let written = LockedValue<[SwapEntry]>([])
        let running = LockedValue(true)

        // Swap-in side: look entries up while they are written back.
        let reader = Thread {
            while running.withLock({ $0 }) {
                for entry in written.withLock({ $0.suffix(16) }) {
                    guard let page = device.swapCache.find(entry) else { continue }
                    if contents(of: page.buffer) == pageContents(slot: entry.offset) {
                        seenIntact.withLock { $0 += 1 }
                    } else {
                        seenCorrupt.withLock { $0 += 1 }
                    }
                    page.release()
                }
            }
        }
        reader.start()

        DispatchQueue.concurrentPerform(iterations: writers + 1) { index in
            if index == writers {
                // A thread that keeps draining while others submit.
                for _ in 0..<20 {
                    device.drain()
                    usleep(200)
                }
                return
            }
            for _ in 0..<perWriter {
                guard let entry = device.slots.allocate() else { break }
                _ = device.slots.duplicate(entry)
                let page = SwapCachePage(entry: entry, buffer: makePage(slot: entry.offset))
                guard device.swapCache.add(page) else { continue }
                page.isUpToDate = true
                written.withLock { $0.append(entry) }
                device.submitWriteback(page) { result in
                    if case .failure = result { errors.withLock { $0 += 1 } }
                }
                page.release()
            }
        }
        drainOrFail(device)
        running.withLock { $0 = false }
        while !reader.isFinished { usleep(1000) }

        let entries = written.withLock { $0 }
        XCTAssertEqual(entries.count, writers * perWriter)
        XCTAssertEqual(errors.withLock { $0 }, 0)
        XCTAssertEqual(seenCorrupt.withLock { $0 }, 0)
        XCTAssertEqual(device.swapCache.count, 0, "every page reclaimed once written and released")
        XCTAssertEqual(device.stats.pagesWritten, entries.count)
        XCTAssertEqual(device.stats.inFlight, 0)
        for entry in entries {
            XCTAssertFalse(device.slots.hasCache(entry))
            XCTAssertEqual(device.slots.useCount(entry), 1)
        }
        let reads = readSlots(device, entries.map(\.offset))
        XCTAssertEqual(reads.count, entries.count)
        XCTAssertTrue(entries.allSatisfy { reads[Int($0.offset)] == pageContents(slot: $0.offset) })
    }

    func testCloseWhileSubmittersAreBlockedOnAFullQueue() throws {
        let realWrite = SwapSyscalls.system.pwrite
        let slow = syscalls(pwrite: { fd, buffer, offset in
            usleep(1000)
            return realWrite(fd, buffer, offset)
        })
        let device = try makeDevice(
            self, pages: 128,
            configuration: configuration(syscalls: slow, workers: 1, queueDepth: 2))
        let log = CompletionLog()
        let submitted = LockedValue(0)
        let group = DispatchGroup()
        for thread in 0..<3 {
            group.enter()
            Thread {
                for index in 0..<20 {
                    let slot = UInt64(1 + thread * 20 + index)
                    if let entry = SwapEntry(type: 0, offset: slot) {
                        device.submitWrite(makePage(slot: slot), at: entry) {
                            log.record(Int(slot), $0)
                        }
                        submitted.withLock { $0 += 1 }
                    }
                }
                group.leave()
            }.start()
        }
        usleep(5000)
        device.close()
        XCTAssertEqual(group.wait(timeout: .now() + 20), .success, "a submitter hung after close")
        // Every submission gets exactly one completion: written, or `.closed`.
        let deadline = Date().addingTimeInterval(10)
        while log.all.count < 60 && Date() < deadline { usleep(1000) }
        let results = log.all
        XCTAssertEqual(submitted.withLock { $0 }, 60)
        XCTAssertEqual(results.count, 60)
        let closed = results.values.filter { $0.error == .closed }.count
        let written = results.values.filter(\.succeeded).count
        XCTAssertEqual(closed + written, 60)
        XCTAssertEqual(device.stats.pagesWritten, written)
        XCTAssertGreaterThan(closed, 0)
    }
}
