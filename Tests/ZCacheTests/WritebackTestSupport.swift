// Helpers for the writeback, shrinker and swap-path tests: scratch swap files,
// a swap device whose writes can be slowed down or made to fail, a host memory
// with hand-set LRU counts, pages that are a pure function of (entry, version),
// and a direct read of a slot from the swap file.

import Dispatch
import Foundation
import XCTest
import ZCacheSupport

@testable import ZCache

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh swap file path in a scratch directory removed when the test ends.
func scratchSwapPath(_ testCase: XCTestCase, name: String = "swap") throws -> String {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("zcache-wb-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
    return directory + "/" + name
}

/// The bytes of slot `offset` read straight from the swap file (pread at
/// `offset * 4096`), bypassing the device object.
func readSlotFromFile(_ path: String, offset: UInt64) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: pageSize)
    let count = bytes.withUnsafeMutableBytes { raw in
        pread(fd, raw.baseAddress, pageSize, off_t(offset) * off_t(pageSize))
    }
    guard count == pageSize else { throw POSIXError(.EIO) }
    return bytes
}

/// A compressible page (text-like, so zcache stores it) that is a pure
/// function of `(id, version)`: two versions of one id always differ.
func versionedPage(id: Int, version: Int) -> [UInt8] {
    var bytes = TestPages.textBytes(
        count: pageSize, seed: UInt64(id) &* 1_000_003 &+ UInt64(version))
    // Stamp id and version at the front so no two pages are equal.
    withUnsafeBytes(of: UInt64(id).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: UInt64(version).littleEndian) { bytes.replaceSubrange(8..<16, with: $0) }
    return bytes
}

/// A plan for the device's `pwrite`: latency, and failures to inject.
struct WriteFaultPlan: Sendable {
    /// Sleep this long in every pwrite (and pread).
    var latencyMicroseconds: UInt32 = 0
    /// Fail the next this-many pwrite calls with `errno`.
    var failNext = 0
    /// The errno of an injected failure.
    var errno: Int32 = EIO
    /// Fail every pwrite.
    var alwaysFail = false
    /// The next this-many pwrite calls write nothing and return 0 (a short write
    /// that makes no progress: `.shortIO`).
    var zeroByteWritesNext = 0
    /// The next this-many pwrite calls write only half of what they were given
    /// (a partial write the device completes by writing the rest).
    var partialWritesNext = 0
    /// Pages (by the byte offset of their start) already failed by `failNext`
    /// or `zeroByteWritesNext`: each page fails at most once, so the counts do
    /// not depend on which I/O worker's call comes first. Keyed by page, not by
    /// the call's offset: the rest of a partial write is a call at an offset
    /// inside the page, and keyed by that it could fail the page a second time
    /// (and, retries being limited, keep it from being written at all).
    var failedPages: Set<Int64> = []
}

/// Syscalls for a `SwapDevice` whose pwrite follows a `WriteFaultPlan`.
final class FaultInjector: Sendable {
    let plan: LockedValue<WriteFaultPlan>
    /// pwrite calls seen, and those that failed (error or zero bytes).
    let calls = LockedValue<(writes: Int, injectedFailures: Int, partial: Int)>((0, 0, 0))

    init(_ plan: WriteFaultPlan = .init()) {
        self.plan = LockedValue(plan)
    }

    func update(_ change: (inout WriteFaultPlan) -> Void) {
        plan.withLock { change(&$0) }
    }

    var syscalls: SwapSyscalls {
        let system = SwapSyscalls.system
        return SwapSyscalls(
            pread: { [self] fd, buffer, offset in
                let latency = plan.withLock { $0.latencyMicroseconds }
                if latency > 0 { usleep(latency) }
                return system.pread(fd, buffer, offset)
            },
            pwrite: { [self] fd, buffer, offset in
                enum Action { case fail(Int32), zero, partial, normal }
                let (latency, action) = plan.withLock { plan -> (UInt32, Action) in
                    if plan.alwaysFail { return (plan.latencyMicroseconds, .fail(plan.errno)) }
                    let page = Int64(offset) & ~Int64(pageSize - 1)
                    let firstFailure = !plan.failedPages.contains(page)
                    if plan.failNext > 0 && firstFailure {
                        plan.failNext -= 1
                        plan.failedPages.insert(page)
                        return (plan.latencyMicroseconds, .fail(plan.errno))
                    }
                    if plan.zeroByteWritesNext > 0 && firstFailure {
                        plan.zeroByteWritesNext -= 1
                        plan.failedPages.insert(page)
                        return (plan.latencyMicroseconds, .zero)
                    }
                    if plan.partialWritesNext > 0 && buffer.count > 1 {
                        plan.partialWritesNext -= 1
                        return (plan.latencyMicroseconds, .partial)
                    }
                    return (plan.latencyMicroseconds, .normal)
                }
                if latency > 0 { usleep(latency) }
                switch action {
                case .fail(let code):
                    calls.withLock {
                        $0.writes += 1
                        $0.injectedFailures += 1
                    }
                    return -Int(code)
                case .zero:
                    calls.withLock {
                        $0.writes += 1
                        $0.injectedFailures += 1
                    }
                    return 0
                case .partial:
                    calls.withLock {
                        $0.writes += 1
                        $0.partial += 1
                    }
                    let half = UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count / 2)])
                    return system.pwrite(fd, half, offset)
                case .normal:
                    calls.withLock { $0.writes += 1 }
                    return system.pwrite(fd, buffer, offset)
                }
            },
            fsync: { fd in system.fsync(fd) })
    }
}

/// A device configuration using `injector`'s syscalls.
func faultyDeviceConfiguration(_ injector: FaultInjector, workers: Int = 2, queueDepth: Int = 1024)
    -> SwapDevice.Configuration
{
    var configuration = SwapDevice.Configuration()
    configuration.syscalls = injector.syscalls
    configuration.ioWorkers = workers
    configuration.queueDepth = queueDepth
    return configuration
}

/// A host with LRU counts set by the test and a budget of pages that writeback
/// may take "forcing". `gate`, when set, makes `allocateForcedPage` signal
/// `entered` and wait on it, so a test can hold a writeback (and its scan) still.
final class TestHost: HostMemory {
    struct State {
        var counts = HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0)
        var forcedBudget = 0
        var forcedInUse = 0
        var forcedTaken = 0
        var forcedRefused = 0
    }

    let state = LockedValue(State())
    let gate = LockedValue<DispatchSemaphore?>(nil)
    let entered = DispatchSemaphore(value: 0)

    init(counts: HostLRUCounts? = nil, forcedBudget: Int = 0) {
        state.withLock {
            if let counts { $0.counts = counts }
            $0.forcedBudget = forcedBudget
        }
    }

    func lruCounts() -> HostLRUCounts { state.withLock { $0.counts } }

    func allocateForcedPage() -> Bool {
        if let gate = gate.withLock({ $0 }) {
            entered.signal()
            gate.wait()
        }
        return state.withLock {
            guard $0.forcedInUse < $0.forcedBudget else {
                $0.forcedRefused += 1
                return false
            }
            $0.forcedInUse += 1
            $0.forcedTaken += 1
            return true
        }
    }

    func freeForcedPage() {
        state.withLock {
            precondition($0.forcedInUse > 0, "freeForcedPage without a page taken")
            $0.forcedInUse -= 1
        }
    }
}

extension ZCache {
    /// Swaps out `bytes` (a 4096-byte array).
    func swapOut(_ bytes: [UInt8], type: Int = 0) throws -> SwapEntry {
        try bytes.withUnsafeBytes { try swapOut(page: $0, type: type) }
    }

    /// Swaps `entry` in and returns the bytes and where they came from.
    func swapIn(_ entry: SwapEntry) throws -> ([UInt8], SwapInSource) {
        var out = [UInt8](repeating: 0xA5, count: pageSize)
        let source = try out.withUnsafeMutableBytes { try swapIn(entry, into: $0) }
        return (out, source)
    }

    /// Writes back persistent frames until none is left (or no progress is made),
    /// waiting for each round's writes. Returns the pages written back.
    func writebackEverything(file: StaticString = #filePath, line: UInt = #line) -> Int {
        var total = 0
        var idleRounds = 0
        while statistics.zcache.persPageframes > 0 && idleRounds < 100 {
            let done = writeback(pageframes: Int.max)
            waitForWriteback()
            total += done
            idleRounds = done == 0 ? idleRounds + 1 : 0
            if done == 0 { usleep(1000) }
        }
        return total
    }
}
