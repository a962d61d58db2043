// The failing-slot races (the page FullStackModelTests once lost: an entry of a
// slot whose every write fails, swapped in from the device as zeros).
//
// A device on which every write to an even slot fails (EIO), with a little
// latency so writes are in flight while the owners act. Per entry the owner
// swaps in (the page must come back exact, from zcache or the swap cache; a
// bad slot's page never from the device, which holds no data there) or frees
// it, racing with: the entry's own failing write and its resubmissions on the
// I/O workers, writeback passes on other threads (zcache -> swap cache ->
// failing write), and a thread that freezes zcache now and then so swap-outs
// go straight to the swap cache and the device. Slots are reused at once, so a
// freed entry's late completion meets the slot's next owner.
//
//   ZCACHE_FAILSLOT_OPS=N  operations per worker (default sized for a debug run)

import Dispatch
import Foundation
import Synchronization
import XCTest
import ZCacheSupport

@testable import ZCache

final class FailingSlotRaceStressTests: AllocatorTestCase {
    /// Slots whose offset is a multiple of this fail every write.
    private static let badSlotModulus: UInt64 = 2

    /// Whether every write to `slot` fails (never slot 0, the header).
    private static func isBadSlot(_ slot: UInt64) -> Bool {
        slot > 0 && slot % badSlotModulus == 0
    }

    /// Syscalls whose pwrite fails every write to a bad slot, after a short
    /// random delay on every write (so completions interleave with the owners).
    private static func badSlotSyscalls(latencyMicros: UInt32) -> SwapSyscalls {
        let system = SwapSyscalls.system
        let sequence = Atomic<UInt64>(0)
        return SwapSyscalls(
            pread: { fd, buffer, offset in system.pread(fd, buffer, offset) },
            pwrite: { fd, buffer, offset in
                let roll = mix64(sequence.wrappingAdd(1, ordering: .relaxed).newValue)
                if roll % 4 == 0 { usleep(UInt32(roll >> 32) % latencyMicros + 1) }
                if isBadSlot(UInt64(offset) / UInt64(pageSize)) { return -Int(EIO) }
                return system.pwrite(fd, buffer, offset)
            },
            fsync: { fd in system.fsync(fd) })
    }

    func testBadSlotPagesNeverComeFromTheDevice() throws {
        let opsPerWorker =
            ProcessInfo.processInfo.environment["ZCACHE_FAILSLOT_OPS"].flatMap { Int($0) }
            ?? (runningUnderSanitizer() ? 1_000 : 3_000)
        try forEachAllocator {
            var configuration = ZCacheConfiguration()
            configuration.pageframes = 48
            configuration.maxOutstandingWritebackPages = 16
            configuration.allocator = allocator
            let cache = ZCache(configuration: configuration)
            var deviceConfiguration = SwapDevice.Configuration()
            deviceConfiguration.syscalls = Self.badSlotSyscalls(latencyMicros: 300)
            deviceConfiguration.ioWorkers = 2
            deviceConfiguration.queueDepth = 64
            let path = try scratchSwapPath(self)
            let device = try SwapDevice.create(
                path: path, pages: 512, configuration: deviceConfiguration)
            defer { device.close() }
            try cache.attachSwapDevice(device)

            let workers = 3
            let stop = Atomic<Bool>(false)
            let finished = Atomic<Int>(0)
            let lost = LockedValue<[String]>([])
            let sources = LockedValue<[ZCache.SwapInSource: Int]>([:])
            let badSlotSwapIns = Atomic<Int>(0)
            let group = DispatchGroup()
            func spawn(_ body: @escaping @Sendable () -> Void) {
                group.enter()
                Thread {
                    body()
                    group.leave()
                }.start()
            }
            /// Swaps `item.entry` in and checks it (reads never fail here: any
            /// error is a failure too).
            @Sendable func swapInAndCheck(_ item: (entry: SwapEntry, id: Int)) {
                let (entry, id) = item
                do {
                    let (bytes, source) = try cache.swapIn(entry)
                    sources.withLock { $0[source, default: 0] += 1 }
                    let bad = Self.isBadSlot(entry.offset)
                    if bad { badSlotSwapIns.add(1, ordering: .relaxed) }
                    if bytes != versionedPage(id: id, version: 0) || (bad && source == .device) {
                        lost.withLock {
                            $0.append("\(entry) (bad slot: \(bad)) from \(source) came back wrong")
                        }
                    }
                } catch {
                    lost.withLock { $0.append("swapIn of \(entry) threw \(error)") }
                }
            }
            // Writeback passes: zcache's pages to the swap cache and the device.
            spawn {
                while !stop.load(ordering: .relaxed) {
                    if cache.writeback(pageframes: 2) == 0 { usleep(50) }
                }
            }
            // Freezes zcache now and then: swap-outs then go to the device.
            spawn {
                var rng = SeededGenerator(seed: 0xF0)
                while !stop.load(ordering: .relaxed) {
                    cache.freeze()
                    usleep(UInt32.random(in: 50...400, using: &rng))
                    cache.unfreeze()
                    usleep(UInt32.random(in: 50...400, using: &rng))
                }
            }
            for worker in 0..<workers {
                spawn {
                    defer {
                        if finished.add(1, ordering: .relaxed).newValue == workers {
                            stop.store(true, ordering: .relaxed)
                        }
                    }
                    var rng = SeededGenerator(seed: UInt64(worker) &* 0x9E37_79B9 &+ 7)
                    var live: [(entry: SwapEntry, id: Int)] = []
                    var nextID = worker * 10_000_000
                    for _ in 0..<opsPerWorker {
                        let roll = Int.random(in: 0..<10, using: &rng)
                        if live.count < 8 || (roll < 4 && live.count < 40) {
                            guard
                                let entry = try? cache.swapOut(
                                    versionedPage(id: nextID, version: 0))
                            else { continue }  // the device is full
                            live.append((entry, nextID))
                            nextID += 1
                            // Half of the time at once: the entry's first write
                            // (and its failure) is then most likely in flight.
                            if roll % 2 == 0 { swapInAndCheck(live.removeLast()) }
                        } else if roll < 8 {
                            let pick = Int.random(in: 0..<live.count, using: &rng)
                            swapInAndCheck(live.remove(at: pick))
                        } else {
                            let pick = Int.random(in: 0..<live.count, using: &rng)
                            cache.swapFree(live.remove(at: pick).entry)
                        }
                    }
                    for item in live { swapInAndCheck(item) }
                }
            }
            group.wait()
            cache.unfreeze()
            cache.waitForWriteback()

            let failures = lost.withLock { $0 }
            for failure in failures.prefix(10) { XCTFail(failure) }
            XCTAssertEqual(failures.count, 0, "pages lost")
            let seen = sources.withLock { $0 }
            let sourceCounts = [ZCache.SwapInSource.zcache, .swapCache, .device]
                .map { "\($0.rawValue) \(seen[$0, default: 0])" }.joined(separator: ", ")
            let stats = cache.statistics.zcache
            let badSlots = badSlotSwapIns.load(ordering: .relaxed)
            print(
                "FailingSlotRaceStressTests [\(allocator)]: \(workers) workers x \(opsPerWorker) "
                    + "ops, swap-ins: \(sourceCounts); bad-slot swap-ins \(badSlots), write "
                    + "errors \(stats.writebackWriteErrors), retries \(stats.writebackRetries), "
                    + "written back \(stats.writtenbackPages), decompress errors "
                    + "\(stats.decompressErrors)")
            // The races were run: pages met in the swap cache, writes failed and
            // were resubmitted, bad slots swapped in, and some pages written.
            XCTAssertGreaterThan(seen[.swapCache, default: 0], 0)
            XCTAssertGreaterThan(seen[.zcache, default: 0], 0)
            XCTAssertGreaterThan(stats.writebackRetries, 0)
            XCTAssertGreaterThan(badSlots, 0)
            XCTAssertGreaterThan(stats.writtenbackPages, 0)
            // Nothing is left behind: every entry was swapped in or freed.
            XCTAssertEqual(device.swapCache.count, 0)
            XCTAssertEqual(device.slots.usedSlots, 0)
            XCTAssertEqual(device.slots.badFrees, 0)
            XCTAssertEqual(stats.persZPages, 0)
            XCTAssertEqual(stats.decompressErrors, 0)
        }
    }
}
