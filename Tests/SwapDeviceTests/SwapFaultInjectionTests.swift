// Injected I/O faults: EIO, ENOSPC, short transfers, EINTR, slow devices.
// Each test checks that every completion arrives with the right outcome, that
// nothing hangs, and that the counters agree with the completions.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

final class SwapFaultInjectionTests: XCTestCase {
    private func assertCountersAgree(
        _ device: SwapDevice, _ results: [Int: Result<Void, SwapIOError>],
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let failed = results.values.filter { (try? $0.get()) == nil }.count
        let stats = device.stats
        XCTAssertEqual(stats.writeErrors, failed, "writeErrors", file: file, line: line)
        XCTAssertEqual(
            stats.pagesWritten, results.count - failed, "pagesWritten", file: file, line: line)
        XCTAssertEqual(stats.inFlight, 0, "inFlight", file: file, line: line)
    }

    func testEIOReachesEveryCompletion() throws {
        let device = try makeDevice(
            self, pages: 128,
            configuration: configuration(syscalls: syscalls(pwrite: { _, _, _ in -Int(EIO) })))
        let results = writeSlots(device, Array(1...100))
        XCTAssertEqual(results.count, 100)
        for (_, result) in results { XCTAssertEqual(result.error, .io(errno: EIO)) }
        assertCountersAgree(device, results)
    }

    func testENOSPCOnSomeSlotsOthersLand() throws {
        let realWrite = SwapSyscalls.system.pwrite
        // Slots 100 and above are "past the end of the disk".
        let calls = syscalls(pwrite: { fd, buffer, offset in
            offset >= 100 * 4096 ? -Int(ENOSPC) : realWrite(fd, buffer, offset)
        })
        let device = try makeDevice(self, pages: 256, configuration: configuration(syscalls: calls))
        let results = writeSlots(device, Array(1...200))
        for slot in 1...200 {
            XCTAssertEqual(results[slot]?.succeeded, slot < 100, "slot \(slot)")
            if slot >= 100 { XCTAssertEqual(results[slot]?.error, .io(errno: ENOSPC)) }
        }
        assertCountersAgree(device, results)
        let reads = readSlots(device, Array(1...99))
        for slot in UInt64(1)...99 { XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot)) }
    }

    func testShortWritesAreResumed() throws {
        let realWrite = SwapSyscalls.system.pwrite
        let calls = LockedValue(0)
        let shortCalls = syscalls(pwrite: { fd, buffer, offset in
            calls.withLock { $0 += 1 }
            let part = UnsafeRawBufferPointer(rebasing: buffer.prefix(1000))
            return realWrite(fd, part, offset)
        })
        let device = try makeDevice(
            self, pages: 64, configuration: configuration(syscalls: shortCalls))
        let header = calls.withLock { $0 }
        XCTAssertEqual(header, 0, "open writes nothing")
        let results = writeSlots(device, Array(1...50), version: 3)
        XCTAssertTrue(results.values.allSatisfy { (try? $0.get()) != nil })
        XCTAssertEqual(calls.withLock { $0 } - header, 50 * 5, "4096 bytes in 1000-byte pieces")
        assertCountersAgree(device, results)
        let reads = readSlots(device, Array(1...50))
        for slot in UInt64(1)...50 {
            XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot, version: 3))
        }
        // One device per file: this one lets go before the file is reopened.
        device.close()
        XCTAssertEqual(try SwapDevice.open(path: device.path).header, device.header)
    }

    func testEINTRIsRetried() throws {
        let realWrite = SwapSyscalls.system.pwrite
        let interrupted = LockedValue(Set<Int64>())
        let calls = syscalls(pwrite: { fd, buffer, offset in
            // Every page's first attempt is interrupted.
            let first = interrupted.withLock { $0.insert(offset).inserted }
            return first ? -Int(EINTR) : realWrite(fd, buffer, offset)
        })
        let device = try makeDevice(self, pages: 64, configuration: configuration(syscalls: calls))
        let results = writeSlots(device, Array(1...40))
        XCTAssertTrue(results.values.allSatisfy { (try? $0.get()) != nil })
        assertCountersAgree(device, results)
        let reads = readSlots(device, Array(1...40))
        for slot in UInt64(1)...40 { XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot)) }
    }

    func testWriteThatMakesNoProgressIsShortIO() throws {
        let device = try makeDevice(self, pages: 16)
        // Swap in a zero-returning pwrite only for the slots: reopen the file
        // with it (one device per file, so the first one closes).
        device.close()
        let stuck = syscalls(pwrite: { _, _, _ in 0 })
        let reopened = try SwapDevice.open(
            path: device.path, configuration: configuration(syscalls: stuck))
        defer { reopened.close() }
        let results = writeSlots(reopened, [1, 2, 3])
        for (_, result) in results { XCTAssertEqual(result.error, .shortIO) }
        assertCountersAgree(reopened, results)
    }

    func testSlowWritesAllCompleteAndDrainWaitsForThem() throws {
        let realWrite = SwapSyscalls.system.pwrite
        let calls = syscalls(pwrite: { fd, buffer, offset in
            usleep(3000)
            return realWrite(fd, buffer, offset)
        })
        let device = try makeDevice(
            self, pages: 64,
            configuration: configuration(syscalls: calls, workers: 1, queueDepth: 16))
        let log = CompletionLog()
        for slot in UInt64(1)...40 {
            let entry = try XCTUnwrap(SwapEntry(type: 0, offset: slot))
            device.submitWrite(makePage(slot: slot), at: entry) { log.record(Int(slot), $0) }
        }
        XCTAssertLessThan(log.all.count, 40, "writes of 3 ms each finished before submit returned")
        drainOrFail(device)
        XCTAssertEqual(log.all.count, 40)
        XCTAssertEqual(log.failures, 0)
        assertCountersAgree(device, log.all)
    }

    func testReadErrorsAndShortReads() throws {
        let device = try makeDevice(self, pages: 64)
        _ = writeSlots(device, Array(1...30))
        let realRead = SwapSyscalls.system.pread
        var calls = SwapSyscalls.system
        calls.pread = { fd, buffer, offset in
            if offset >= 20 * 4096 { return -Int(EIO) }
            // Everything else arrives 512 bytes at a time.
            return realRead(fd, UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(512)), offset)
        }
        device.close()  // one device per file
        let flaky = try SwapDevice.open(
            path: device.path, configuration: configuration(syscalls: calls))
        defer { flaky.close() }
        let reads = readSlots(flaky, Array(1...30))
        XCTAssertEqual(reads.count, 19)
        for slot in UInt64(1)...19 { XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot)) }
        XCTAssertEqual(flaky.stats.readErrors, 11)
        XCTAssertEqual(flaky.stats.pagesRead, 19)

        // The same through a read on the calling thread (a swap-in's).
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        for slot in UInt64(1)...30 {
            let result = flaky.read(try XCTUnwrap(SwapEntry(type: 0, offset: slot)), into: page)
            if slot < 20 {
                XCTAssertTrue(result.succeeded, "slot \(slot)")
                XCTAssertEqual([UInt8](page), pageContents(slot: slot))
            } else {
                XCTAssertEqual(result.error, .io(errno: EIO), "slot \(slot)")
            }
        }
        XCTAssertEqual(flaky.stats.readErrors, 22)
        XCTAssertEqual(flaky.stats.pagesRead, 38)
    }

    func testRandomFaultMixCountersAgreeAndGoodPagesLand() throws {
        let realWrite = SwapSyscalls.system.pwrite
        let generator = LockedValue(SeededGenerator(seed: 7))
        let calls = syscalls(pwrite: { fd, buffer, offset in
            let roll = generator.withLock { Int.random(in: 0..<10, using: &$0) }
            switch roll {
            case 0: return -Int(EIO)
            case 1: return -Int(ENOSPC)
            case 2: return -Int(EINTR)
            case 3:
                return realWrite(fd, UnsafeRawBufferPointer(rebasing: buffer.prefix(700)), offset)
            default: return realWrite(fd, buffer, offset)
            }
        })
        let device = try makeDevice(self, pages: 512, configuration: configuration(syscalls: calls))
        let results = writeSlots(device, Array(1...500), version: 11)
        XCTAssertEqual(results.count, 500)
        assertCountersAgree(device, results)
        let failed = results.values.filter { (try? $0.get()) == nil }.count
        XCTAssertGreaterThan(failed, 0)
        XCTAssertLessThan(failed, 500)
        let good = results.filter { (try? $0.value.get()) != nil }.map { UInt64($0.key) }
        let reads = readSlots(device, good)
        for slot in good { XCTAssertEqual(reads[Int(slot)], pageContents(slot: slot, version: 11)) }
        for (_, result) in results {
            if case .failure(let error) = result {
                XCTAssertTrue([.io(errno: EIO), .io(errno: ENOSPC)].contains(error), "\(error)")
            }
        }
    }
}
