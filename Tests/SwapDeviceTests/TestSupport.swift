// Helpers shared by the SwapDevice tests: scratch files, page contents, external tools.

import Foundation
import XCTest
import ZCacheSupport

@testable import SwapDevice

/// A fresh scratch directory, removed when the test ends.
func makeScratchDirectory(_ testCase: XCTestCase) throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("swapdevice-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// The deterministic contents of a test page: a function of `slot` and `version`.
func pageContents(slot: UInt64, version: UInt64 = 0) -> [UInt8] {
    var state = slot &* 0x9E37_79B9_7F4A_7C15 &+ version &* 0xBF58_476D_1CE4_E5B9 &+ 1
    var bytes = [UInt8](repeating: 0, count: pageSize)
    for index in stride(from: 0, to: pageSize, by: 8) {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        withUnsafeBytes(of: mixed.littleEndian) { raw in
            for byte in 0..<8 { bytes[index + byte] = raw[byte] }
        }
    }
    return bytes
}

func makePage(slot: UInt64, version: UInt64 = 0) -> PageBuffer {
    guard let page = PageBuffer(copying: pageContents(slot: slot, version: version)) else {
        fatalError("pageContents returned a page of the wrong size")
    }
    return page
}

func contents(of buffer: PageBuffer) -> [UInt8] { [UInt8](buffer.bytes) }

/// Reads `count` bytes at `offset` of the file at `path` with plain Foundation I/O.
func readFile(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
    let handle = try XCTUnwrap(FileHandle(forReadingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    return [UInt8](try handle.read(upToCount: count) ?? Data())
}

/// Writes `bytes` at `offset` of the file at `path`.
func patchFile(_ path: String, offset: Int, bytes: [UInt8]) throws {
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

/// The output of an external tool.
struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Finds a system tool; fails the test (these tools are a test dependency that
/// `scripts/ensure-deps` installs) when it is missing.
func findTool(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/bin"] {
        let path = directory + "/" + name
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    XCTFail("\(name) not found: run scripts/ensure-deps (util-linux, file)", file: file, line: line)
    throw CocoaError(.fileNoSuchFile)
}

/// Runs a system tool to completion.
func runTool(_ name: String, _ arguments: [String]) throws -> ToolResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try findTool(name))
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C"
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// Collects completion results from I/O worker threads.
final class CompletionLog: @unchecked Sendable {
    private let lock = Lock()
    private var results: [Int: Result<Void, SwapIOError>] = [:]
    private var threadNames: Set<String> = []

    func record(_ key: Int, _ result: Result<Void, SwapIOError>) {
        let name = Thread.current.name ?? ""
        lock.withLock {
            results[key] = result
            threadNames.insert(name)
        }
    }

    var all: [Int: Result<Void, SwapIOError>] { lock.withLock { results } }
    var threads: Set<String> { lock.withLock { threadNames } }
    var failures: Int { lock.withLock { results.values.filter { (try? $0.get()) == nil }.count } }
}

/// Syscalls built on the real ones, with `pwrite` replaced.
func syscalls(
    pwrite: @escaping @Sendable (Int32, UnsafeRawBufferPointer, Int64) -> Int
) -> SwapSyscalls {
    var calls = SwapSyscalls.system
    calls.pwrite = pwrite
    return calls
}

/// A configuration with the given syscalls and queue shape.
func configuration(
    syscalls: SwapSyscalls = .system, workers: Int = 2, queueDepth: Int = 1024
) -> SwapDevice.Configuration {
    var configuration = SwapDevice.Configuration()
    configuration.syscalls = syscalls
    configuration.ioWorkers = workers
    configuration.queueDepth = queueDepth
    return configuration
}

/// Waits for `device.drain()` on another thread, failing instead of hanging.
func drainOrFail(
    _ device: SwapDevice, timeout: TimeInterval = 20, file: StaticString = #filePath,
    line: UInt = #line
) {
    let done = DispatchSemaphore(value: 0)
    Thread {
        device.drain()
        done.signal()
    }.start()
    if done.wait(timeout: .now() + timeout) == .timedOut {
        XCTFail("drain did not return within \(timeout) s", file: file, line: line)
    }
}

/// A small seeded generator (SplitMix64) so random tests repeat.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Opens a fresh swap device of `pages` pages in a scratch directory.
func makeDevice(
    _ testCase: XCTestCase, pages: Int, type: Int = 0,
    configuration: SwapDevice.Configuration = .init()
) throws -> SwapDevice {
    // Created with the real system calls (so injected faults do not hit the
    // header), then opened with the configuration under test.
    let path = try makeScratchDirectory(testCase) + "/swap"
    var plain = configuration
    plain.syscalls = .system
    try SwapDevice.create(path: path, pages: pages, type: type, configuration: plain).close()
    let device = try SwapDevice.open(path: path, type: type, configuration: configuration)
    testCase.addTeardownBlock { device.close() }
    return device
}

/// Writes `slots` through the async path and waits; returns each slot's result.
func writeSlots(
    _ device: SwapDevice, _ slots: [UInt64], version: UInt64 = 0
) -> [Int: Result<Void, SwapIOError>] {
    let log = CompletionLog()
    for slot in slots {
        guard let entry = SwapEntry(type: device.type, offset: slot) else { continue }
        device.submitWrite(makePage(slot: slot, version: version), at: entry) {
            log.record(Int(slot), $0)
        }
    }
    drainOrFail(device)
    return log.all
}

/// Reads `slots` back through the async path; returns the bytes of each that succeeded.
func readSlots(_ device: SwapDevice, _ slots: [UInt64]) -> [Int: [UInt8]] {
    let log = CompletionLog()
    var buffers: [Int: PageBuffer] = [:]
    for slot in slots {
        guard let entry = SwapEntry(type: device.type, offset: slot) else { continue }
        let buffer = PageBuffer()
        buffers[Int(slot)] = buffer
        device.submitRead(into: buffer, at: entry) { log.record(Int(slot), $0) }
    }
    drainOrFail(device)
    var result: [Int: [UInt8]] = [:]
    for (slot, outcome) in log.all {
        if case .success = outcome, let buffer = buffers[slot] { result[slot] = contents(of: buffer) }
    }
    return result
}

extension Result where Success == Void {
    /// The failure, or nil for success.
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
    var succeeded: Bool { error == nil }
}
