// Asynchronous page I/O: round trips, completion threads, bad entries, close,
// back-pressure.

import Foundation
import Synchronization
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapIOTests: XCTestCase {
    func testThousandsOfRandomSlotsReadBackBitIdentical() throws {
        let device = try makeDevice(self, pages: 16384)
        var generator = SeededGenerator(seed: 42)
        let slots = Array(Array(1..<UInt64(16384)).shuffled(using: &generator).prefix(4000))

        let writes = writeSlots(device, slots, version: 7)
        XCTAssertEqual(writes.count, slots.count)
        XCTAssertEqual(writes.values.filter { (try? $0.get()) == nil }.count, 0)

        let reads = readSlots(device, slots)
        XCTAssertEqual(reads.count, slots.count)
        var mismatches = 0
        for slot in slots where reads[Int(slot)] != pageContents(slot: slot, version: 7) {
            mismatches += 1
        }
        XCTAssertEqual(mismatches, 0, "pages that did not read back bit-identical")

        // The bytes are where the Linux layout says: slot N at N * 4096.
        for slot in slots.prefix(64) {
            XCTAssertEqual(
                try readFile(device.path, offset: Int(slot) * 4096, count: 4096),
                pageContents(slot: slot, version: 7), "slot \(slot) in the file")
        }
        let stats = device.stats
        XCTAssertEqual(stats.pagesWritten, slots.count)
        XCTAssertEqual(stats.pagesRead, slots.count)
        XCTAssertEqual(stats.writeErrors, 0)
        XCTAssertEqual(stats.readErrors, 0)
        XCTAssertEqual(stats.inFlight, 0)
        XCTAssertGreaterThan(stats.inFlightPeak, 0)
        XCTAssertLessThanOrEqual(stats.inFlightPeak, 2 * 1024 + 2)
    }

    func testCompletionsRunOnIOWorkersNeverOnTheCaller() throws {
        let device = try makeDevice(self, pages: 64, type: 5)
        let caller = pthread_self()
        let onCaller = LockedValue(0)
        let offWorker = LockedValue(0)
        let log = CompletionLog()
        for slot in UInt64(1)..<64 {
            let entry = try XCTUnwrap(SwapEntry(type: 5, offset: slot))
            device.submitWrite(makePage(slot: slot), at: entry) { result in
                if pthread_equal(pthread_self(), caller) != 0 { onCaller.withLock { $0 += 1 } }
                if !device.isOnIOWorker { offWorker.withLock { $0 += 1 } }
                log.record(Int(slot), result)
            }
        }
        drainOrFail(device)
        XCTAssertEqual(log.all.count, 63)
        XCTAssertEqual(onCaller.withLock { $0 }, 0)
        XCTAssertEqual(offWorker.withLock { $0 }, 0, "completions off the device's I/O workers")
        XCTAssertFalse(device.isOnIOWorker)
    }

    func testEntriesOutsideTheDeviceFailWithEINVALAndSpareTheHeader() throws {
        let device = try makeDevice(self, pages: 16, type: 1)
        let header = try readFile(device.path, offset: 0, count: 4096)
        let log = CompletionLog()
        let bad = [
            try XCTUnwrap(SwapEntry(type: 1, offset: 0)),  // the header
            try XCTUnwrap(SwapEntry(type: 1, offset: 16)),  // past last_page
            try XCTUnwrap(SwapEntry(type: 2, offset: 3)),  // another device
        ]
        for (index, entry) in bad.enumerated() {
            device.submitWrite(makePage(slot: 9), at: entry) { log.record(index, $0) }
        }
        device.submitRead(into: PageBuffer(), at: bad[1]) { log.record(3, $0) }
        drainOrFail(device)
        XCTAssertEqual(log.all.count, 4)
        for (_, result) in log.all { XCTAssertEqual(result.error, .io(errno: EINVAL)) }
        XCTAssertEqual(device.stats.writeErrors, 3)
        XCTAssertEqual(device.stats.readErrors, 1)
        XCTAssertEqual(try readFile(device.path, offset: 0, count: 4096), header)
    }

    /// A read (a swap-in a fault waits for) goes ahead of queued writes
    /// (writeback nobody waits for): it waits for the write in progress, not
    /// for the queue. One worker, so the order of completions is the order of
    /// the transfers.
    func testAReadGoesAheadOfQueuedWrites() throws {
        var slowCalls = SwapSyscalls.system
        let realWrite = slowCalls.pwrite
        slowCalls.pwrite = { fd, buffer, offset in
            usleep(2000)  // a slow device, so that writes queue up
            return realWrite(fd, buffer, offset)
        }
        let device = try makeDevice(
            self, pages: 64,
            configuration: configuration(syscalls: slowCalls, workers: 1, queueDepth: 64))
        let readSlot: UInt64 = 50
        let readEntry = try XCTUnwrap(SwapEntry(type: 0, offset: readSlot))
        device.submitWrite(makePage(slot: readSlot), at: readEntry) { _ in }
        drainOrFail(device)

        // Slots in completion order; 0: the read; 999: a failed transfer.
        let order = LockedValue<[UInt64]>([])
        for slot in UInt64(1)...30 {
            let entry = try XCTUnwrap(SwapEntry(type: 0, offset: slot))
            device.submitWrite(makePage(slot: slot), at: entry) { result in
                order.withLock { $0.append(result.error == nil ? slot : 999) }
            }
        }
        let buffer = PageBuffer()
        // Writes already done when the read is queued (this thread may have
        // been descheduled meanwhile) do not count against it.
        let doneBefore = order.withLock { $0.count }
        device.submitRead(into: buffer, at: readEntry) { result in
            order.withLock { $0.append(result.error == nil ? 0 : 999) }
        }
        drainOrFail(device)
        let completed = order.withLock { $0 }
        XCTAssertEqual(completed.count, 31)
        let writesBefore = try XCTUnwrap(completed.firstIndex(of: 0)) - doneBefore
        // The write in progress when the read came, and one that may have
        // ended between the count above and the read's submission; never the
        // queue (30 writes before reads went first).
        XCTAssertLessThanOrEqual(writesBefore, 3, "the read waited for \(writesBefore) writes")
        XCTAssertEqual(contents(of: buffer), pageContents(slot: readSlot))
        XCTAssertEqual(Array(completed.filter { $0 != 0 }), Array(UInt64(1)...30))
    }

    func testCloseFinishesQueuedWorkAndLaterSubmitsGetClosed() throws {
        var slowCalls = SwapSyscalls.system
        let realWrite = slowCalls.pwrite
        slowCalls.pwrite = { fd, buffer, offset in
            usleep(2000)
            return realWrite(fd, buffer, offset)
        }
        let device = try makeDevice(
            self, pages: 64,
            configuration: configuration(syscalls: slowCalls, workers: 1, queueDepth: 4))
        let log = CompletionLog()
        for slot in UInt64(1)...20 {
            let entry = try XCTUnwrap(SwapEntry(type: 0, offset: slot))
            device.submitWrite(makePage(slot: slot), at: entry) { log.record(Int(slot), $0) }
        }
        device.close()
        XCTAssertEqual(log.all.count, 20, "close returned before every queued write completed")
        XCTAssertEqual(log.failures, 0)
        device.close()  // idempotent

        let closed = expectation(description: "completion after close")
        let caller = pthread_self()
        let onCaller = LockedValue(false)
        device.submitWrite(PageBuffer(), at: try XCTUnwrap(SwapEntry(type: 0, offset: 1))) {
            result in
            XCTAssertEqual(result.error, .closed)
            onCaller.withLock { $0 = pthread_equal(pthread_self(), caller) != 0 }
            closed.fulfill()
        }
        wait(for: [closed], timeout: 10)
        XCTAssertFalse(onCaller.withLock { $0 })
        XCTAssertEqual(device.flush().error, .closed)
        XCTAssertEqual(device.stats.pagesWritten, 20)
        XCTAssertEqual(device.stats.inFlight, 0)

        // What was written before close is in the file.
        let reopened = try SwapDevice.open(path: device.path)
        defer { reopened.close() }
        let reads = readSlots(reopened, Array(1...20))
        for slot in UInt64(1)...20 { XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot)) }
    }

    func testBoundedQueueHoldsBackASubmitter() throws {
        var slowCalls = SwapSyscalls.system
        let realWrite = slowCalls.pwrite
        slowCalls.pwrite = { fd, buffer, offset in
            usleep(500)
            return realWrite(fd, buffer, offset)
        }
        let depth = 8
        let device = try makeDevice(
            self, pages: 256,
            configuration: configuration(syscalls: slowCalls, workers: 2, queueDepth: depth))
        let results = writeSlots(device, Array(1...200))
        XCTAssertEqual(results.count, 200)
        let stats = device.stats
        XCTAssertEqual(stats.pagesWritten, 200)
        // Queued requests never exceed the depth; each worker holds at most a
        // share of one full queue, so in flight stays under 2 * depth + workers.
        XCTAssertLessThanOrEqual(stats.inFlightPeak, 2 * depth + 2)
        XCTAssertGreaterThanOrEqual(stats.inFlightPeak, 1)
    }

    func testFlushReportsAnFsyncError() throws {
        var calls = SwapSyscalls.system
        let fsyncs = LockedValue(0)
        calls.fsync = { _ in
            fsyncs.withLock { $0 += 1 }
            return -Int(EIO)
        }
        let device = try makeDevice(self, pages: 8, configuration: configuration(syscalls: calls))
        _ = writeSlots(device, [1, 2])
        XCTAssertEqual(device.flush().error, .io(errno: EIO))
        XCTAssertEqual(fsyncs.withLock { $0 }, 1)
        let healthy = try makeDevice(self, pages: 8)
        XCTAssertTrue(healthy.flush().succeeded)
    }
}

extension SwapIOTests {
    /// Whether this process has `path` open (from /proc/self/fd).
    private func processHasOpen(_ path: String) -> Bool {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.contains { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd))
                == path
        }
    }

    /// `read` runs on the calling thread, with no queue: the slot's bytes
    /// (its write drained first), `EINVAL` for a page of another size or an
    /// entry that is not a slot here, `.closed` once the device is closing.
    func testAReadOnTheCallingThread() throws {
        let caller = pthread_self()
        let onCaller = Atomic<Int>(0)
        var calls = SwapSyscalls.system
        let realRead = calls.pread
        calls.pread = { fd, buffer, offset in
            if pthread_equal(pthread_self(), caller) != 0 { onCaller.add(1, ordering: .relaxed) }
            return realRead(fd, buffer, offset)
        }
        let device = try makeDevice(self, pages: 16, configuration: configuration(syscalls: calls))
        _ = writeSlots(device, [3])
        let entry = try XCTUnwrap(SwapEntry(type: 0, offset: 3))
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        let before = onCaller.load(ordering: .relaxed)  // the header's read at creation
        XCTAssertTrue(device.read(entry, into: page).succeeded)
        XCTAssertEqual([UInt8](page), pageContents(slot: 3))
        XCTAssertEqual(
            onCaller.load(ordering: .relaxed) - before, 1, "the read ran on another thread")
        XCTAssertEqual(device.stats.pagesRead, 1)

        let short = UnsafeMutableRawBufferPointer(rebasing: page[..<4095])
        XCTAssertEqual(device.read(entry, into: short).error, .io(errno: EINVAL))
        let outside = try XCTUnwrap(SwapEntry(type: 0, offset: 16))
        XCTAssertEqual(device.read(outside, into: page).error, .io(errno: EINVAL))
        XCTAssertEqual(device.stats.readErrors, 1, "the wrong size never reached the queue")
        device.close()
        XCTAssertEqual(device.read(entry, into: page).error, .closed)
    }

    func testCloseClosesTheFile() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        let device = try SwapDevice.create(path: path, pages: 8)
        XCTAssertTrue(processHasOpen(path))
        device.close()
        XCTAssertFalse(processHasOpen(path))
    }

    func testLastReferenceDroppedInACompletionClosesWithoutDeadlock() throws {
        let path = try makeScratchDirectory(self) + "/swap"
        var device: SwapDevice? = try SwapDevice.create(path: path, pages: 8)
        let done = expectation(description: "completion")
        let entry = try XCTUnwrap(SwapEntry(type: 0, offset: 1))
        // The completion holds the only other reference; when the worker lets go
        // of it, deinit runs close() on that worker.
        device?.submitWrite(makePage(slot: 1), at: entry) { [device] result in
            XCTAssertTrue(result.succeeded)
            XCTAssertEqual(device?.stats.inFlight, 1)
            done.fulfill()
        }
        device = nil
        wait(for: [done], timeout: 10)
        let deadline = Date().addingTimeInterval(10)
        while processHasOpen(path) && Date() < deadline { usleep(1000) }
        XCTAssertFalse(processHasOpen(path), "the last worker did not close the file")
        let reopened = try SwapDevice.open(path: path)
        defer { reopened.close() }
        XCTAssertEqual(readSlots(reopened, [1])[1], pageContents(slot: 1))
    }
}
