// Microbenchmark of the SwapDevice module, run by `zcache-sim microbench swap`.
//
// Write throughput in pages per second through the asynchronous path (submitWrite
// to slots 1...n of a fresh swap file, then drain) against a plain sequential
// pwrite loop of the same pages into a fresh sparse file of the same size in the
// same directory. Both write into the page cache without fsync, as swap-out does.
// The two are measured alternately, five times each; the report gives every
// round and the ratio of the medians (the goal is at least 0.8).
//
// Then the latency of a read submitted right after every write of a round,
// while up to a queue of writes waits, against the same read with the device
// idle, each timed from submission to its completion; and of that read on the
// calling thread (`SwapDevice.read`, what a swap-in from the device uses),
// from the call to its return. Medians of the rounds.

import Foundation
import SwapDevice
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Measures the SwapDevice module on its own and returns a printable report.
public enum SwapDeviceMicrobenchmark {
    public enum BenchmarkError: Error, CustomStringConvertible {
        case noPages
        case system(String, Int32)
        case device(SwapDeviceError)
        case writeFailed(SwapIOError)
        case readFailed(SwapIOError)

        public var description: String {
            switch self {
            case .noPages: "no benchmark pages (give --corpus files)"
            case .system(let op, let code): "\(op) failed: \(String(cString: strerror(code)))"
            case .device(let error): "swap device: \(error)"
            case .writeFailed(let error): "async write failed: \(error)"
            case .readFailed(let error): "async read failed: \(error)"
            }
        }
    }

    static let pageCount = 16384
    static let rounds = 5

    public static func run(corpus: [String]) throws -> String {
        let source =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let available = source.count / pageSize
        guard available > 0 else { throw BenchmarkError.noPages }
        let pages = (0..<pageCount).map { index -> PageBuffer in
            let buffer = PageBuffer()
            let start = (index % available) * pageSize
            source.withUnsafeBytes { raw in
                buffer.bytes.copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + pageSize)]))
            }
            return buffer
        }

        // Both files are unnamed as soon as they are open: nothing is left
        // behind however the benchmark ends.
        let directory = FileManager.default.temporaryDirectory.path
        var plainRates: [Double] = []
        var asyncRates: [Double] = []
        var readsBehindWrites: [Double] = []
        var readsIdle: [Double] = []
        var readsOnCaller: [Double] = []
        for round in 0..<rounds {
            plainRates.append(
                try plainLoop(pages, path: directory + "/zcache-plain-\(getpid())-\(round)"))
            let measured = try asyncPath(pages, directory: directory)
            asyncRates.append(measured.pagesPerSecond)
            readsBehindWrites.append(measured.readBehindWrites)
            readsIdle.append(measured.readIdle)
            readsOnCaller.append(measured.readOnCaller)
        }
        let plain = median(plainRates)
        let async = median(asyncRates)
        var report =
            "SwapDevice write throughput, \(pageCount) pages (\((pageCount * pageSize) >> 20) MiB) "
        report += "per round, \(rounds) rounds, in \(FileManager.default.temporaryDirectory.path)\n"
        report +=
            "  plain sequential pwrite: " + plainRates.map(format).joined(separator: ", ")
            + " pages/s\n"
        report +=
            "  async path (\(SwapDevice.Configuration().ioWorkers) I/O workers): "
            + asyncRates.map(format).joined(separator: ", ")
            + " pages/s\n"
        report +=
            "  ratio async / plain (medians): " + String(format: "%.2f", async / plain)
            + " (goal >= 0.8)\n"
        report +=
            "  a read submitted after every write of a round: "
            + String(
                format: "%.0f us; the device idle: %.0f us; on the calling thread: %.1f us",
                median(readsBehindWrites), median(readsIdle), median(readsOnCaller))
            + " (medians)"
        return report
    }

    /// The baseline: one thread, pwrite of each page at slot i + 1, in order.
    private static func plainLoop(_ pages: [PageBuffer], path: String) throws -> Double {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchmarkError.system("open", errno) }
        unlink(path)
        defer { close(fd) }
        guard ftruncate(fd, off_t(pages.count + 1) * off_t(pageSize)) == 0 else {
            throw BenchmarkError.system("ftruncate", errno)
        }
        let start = DispatchTime.now()
        for (index, page) in pages.enumerated() {
            var done = 0
            while done < pageSize {
                let result = pwrite(
                    fd, page.bytes.baseAddress! + done, pageSize - done,
                    off_t(index + 1) * off_t(pageSize) + off_t(done))
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { throw BenchmarkError.system("pwrite", errno) }
                done += result
            }
        }
        return rate(pages.count, since: start)
    }

    /// The async path: submitWrite of each page at slot i + 1, then drain;
    /// the pages per second, and the latency (µs) of a read of slot 1 queued
    /// after the last write, then of the same read on the drained device,
    /// queued and on the calling thread.
    private static func asyncPath(_ pages: [PageBuffer], directory: String) throws -> (
        pagesPerSecond: Double, readBehindWrites: Double, readIdle: Double, readOnCaller: Double
    ) {
        let device: SwapDevice
        do {
            device = try SwapDevice.createTemporary(in: directory, pages: pages.count + 1)
        } catch {
            throw BenchmarkError.device(error)
        }
        defer { device.close() }
        let firstError = LockedValue<SwapIOError?>(nil)
        let start = DispatchTime.now()
        for (index, page) in pages.enumerated() {
            guard let entry = SwapEntry(type: 0, offset: UInt64(index + 1)) else { continue }
            device.submitWrite(page, at: entry) { result in
                if case .failure(let error) = result {
                    firstError.withLock { if $0 == nil { $0 = error } }
                }
            }
        }
        // Slot 1's write was submitted first: by the time the queue has taken
        // every other write, it is long done.
        let readBehindWrites = try timedRead(device, slot: 1)
        device.drain()
        let pagesPerSecond = rate(pages.count, since: start)
        if let error = firstError.withLock({ $0 }) { throw BenchmarkError.writeFailed(error) }
        let readIdle = try timedRead(device, slot: 1)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { page.deallocate() }
        let readStart = DispatchTime.now().uptimeNanoseconds
        let result = device.read(SwapEntry(type: 0, offset: 1)!, into: page)
        let readOnCaller = Double(DispatchTime.now().uptimeNanoseconds - readStart) / 1e3
        if case .failure(let error) = result { throw BenchmarkError.readFailed(error) }
        return (pagesPerSecond, readBehindWrites, readIdle, readOnCaller)
    }

    /// Reads `slot` and waits for the completion; the time it took, in µs.
    private static func timedRead(_ device: SwapDevice, slot: UInt64) throws -> Double {
        guard let entry = SwapEntry(type: 0, offset: slot) else { return 0 }
        let done = LockedValue<Result<Void, SwapIOError>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let start = DispatchTime.now()
        device.submitRead(into: PageBuffer(), at: entry) { result in
            done.withLock { $0 = result }
            finished.signal()
        }
        finished.wait()
        let micros = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e3
        if case .failure(let error) = done.withLock({ $0 }) {
            throw BenchmarkError.readFailed(error)
        }
        return micros
    }

    private static func rate(_ count: Int, since start: DispatchTime) -> Double {
        let nanoseconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds)
        return Double(count) / (nanoseconds / 1e9)
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted[sorted.count / 2]
    }

    private static func format(_ value: Double) -> String { String(format: "%.0f", value) }
}
