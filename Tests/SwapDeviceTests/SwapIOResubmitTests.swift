// A completion that resubmits to a full queue must not wait for space that only
// the I/O workers (one of which is running it) can free.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

#if canImport(Glibc)
    import Glibc
#endif

final class SwapIOResubmitTests: XCTestCase {
    func testCompletionsResubmitIntoAFullQueueWithoutDeadlock() throws {
        // Each slot's first two writes fail, so every page is resubmitted
        // twice from its completion, while the one-deep ring is kept full.
        let failures = LockedValue<[Int64: Int]>([:])
        var configuration = SwapDevice.Configuration()
        configuration.ioWorkers = 1
        configuration.queueDepth = 1
        configuration.syscalls = SwapSyscalls(
            pread: SwapSyscalls.system.pread,
            pwrite: { fd, buffer, offset in
                // Page 0 is the header, written once by `create`.
                let failed =
                    offset > 0
                    && failures.withLock { seen -> Bool in
                        seen[offset, default: 0] += 1
                        return seen[offset]! <= 2
                    }
                guard failed else { return SwapSyscalls.system.pwrite(fd, buffer, offset) }
                // A slow failure: the submitter refills the ring meanwhile, so
                // the completion's resubmission finds it full.
                usleep(300)
                return -Int(EIO)
            },
            fsync: SwapSyscalls.system.fsync)
        let directory = try makeScratchDirectory(self)
        let device = try SwapDevice.create(
            path: directory + "/resubmit.swap", pages: 65, configuration: configuration)
        let pageCount = 64
        let counts = LockedValue<(written: Int, attempts: Int)>((0, 0))

        @Sendable func write(_ page: PageBuffer, _ entry: SwapEntry) {
            device.submitWrite(page, at: entry) { result in
                counts.withLock {
                    $0.attempts += 1
                    if case .success = result { $0.written += 1 }
                }
                if case .failure = result { write(page, entry) }  // on the I/O worker
            }
        }
        let done = DispatchSemaphore(value: 0)
        Thread {
            for slot in 1...UInt64(pageCount) {
                write(makePage(slot: slot), SwapEntry(type: 0, offset: slot)!)
            }
            device.drain()
            done.signal()
        }.start()
        XCTAssertEqual(done.wait(timeout: .now() + .seconds(60)), .success, "deadlocked")
        XCTAssertEqual(counts.withLock { $0.written }, pageCount)
        XCTAssertEqual(counts.withLock { $0.attempts }, pageCount * 3)
        for slot in 1...pageCount {
            XCTAssertEqual(
                try readFile(device.path, offset: slot * pageSize, count: pageSize),
                pageContents(slot: UInt64(slot)))
        }
        device.close()
    }
}
