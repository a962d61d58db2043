// The full-stack model test's machinery: a ZCache with a small pageframe budget,
// writeback on, a slow and failing swap device, pageframe allocations that fail
// at random, the shrinker called often, both front ends, several threads, and a
// reference model every result is checked against.
//
//   worker threads (rounds of `opsPerRound` ops each, then a barrier)
//     each owns its swap entries and its cleancache files, so its part of the
//     model is sequential and exact:
//       swapped: entry -> PageSpec     every swap-in must return these bytes
//       files:   key   -> PageSpec?    a cleancache get misses or returns these bytes
//     ops: swapOut / swapIn / swapFree, cleancache put / get / invalidate page /
//          invalidate inode / invalidate filesystem, shrinker scans with random
//          LRU counts, explicit writeback, freeze (worker 0 only)
//   checkpoint (all workers parked): wait for writeback, then frame accounting,
//     zbud / tmem / pool invariants, and every key tmem holds is one the model
//     says is live (nothing freed lingers)
//   end: swap in every live entry, get every cleancache key, destroy the
//     filesystems, wait for writeback: no frame, slot, swap-cache page or host
//     page may remain
//
// Faults: `FullStackFaults` wraps the real system calls (EIO, ENOSPC, short
// transfers, EINTR, latency, and "bad slots" whose writes always fail, so a page
// is left dirty in the swap cache after its retries) and makes the pageframe
// pool refuse allocations at random.
//
// Pages come from a bank of precomputed pages (text, structured records, zero,
// random, half random) with a unique stamp written into them, so building or
// checking one is a memcpy and a memcmp.

import Dispatch
import Foundation
import Synchronization
import XCTest

@testable import ZCache

#if canImport(Glibc)
    import Glibc
#endif

/// SplitMix64's finaliser: a well-mixed 64-bit value from a counter.
@inline(__always)
func mix64(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Which page of the bank, stamped with which value. Stamp 0 means "unstamped"
/// (zero pages stay zero).
struct PageSpec: Equatable, Sendable {
    var bank: Int
    var stamp: UInt64
}

/// Precomputed page contents.
final class PageBank: Sendable {
    let pages: [[UInt8]]
    /// Index of the all-zero page.
    let zeroIndex: Int

    init() {
        var pages: [[UInt8]] = []
        for seed in 1...8 { pages.append(TestPages.text(seed: UInt64(seed)).bytes) }
        for seed in 1...8 { pages.append(TestPages.structured(seed: UInt64(seed)).bytes) }
        for seed in 1...2 { pages.append(TestPages.random(seed: UInt64(seed)).bytes) }
        for seed in 1...3 {
            // Half random, half text: compresses to a little over 2 KiB, which
            // feeds the mean-size refusal.
            let half = pageSize / 2
            pages.append(
                TestPages.randomBytes(count: half, seed: UInt64(100 + seed))
                    + TestPages.textBytes(count: pageSize - half, seed: UInt64(seed)))
        }
        zeroIndex = pages.count
        pages.append([UInt8](repeating: 0, count: pageSize))
        self.pages = pages
    }

    var count: Int { pages.count }

    /// Writes the page `spec` names into `buffer` (one page).
    func fill(_ buffer: UnsafeMutableRawBufferPointer, _ spec: PageSpec) {
        pages[spec.bank].withUnsafeBytes { buffer.copyMemory(from: $0) }
        guard spec.stamp != 0 else { return }
        buffer.storeBytes(of: spec.stamp, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: ~spec.stamp, toByteOffset: pageSize / 2, as: UInt64.self)
        buffer.storeBytes(of: spec.stamp, toByteOffset: pageSize - 8, as: UInt64.self)
    }

    /// Whether `buffer` holds exactly the page `spec` names.
    func matches(
        _ buffer: UnsafeRawBufferPointer, _ spec: PageSpec, scratch: UnsafeMutableRawBufferPointer
    )
        -> Bool
    {
        fill(scratch, spec)
        return memcmp(buffer.baseAddress!, scratch.baseAddress!, pageSize) == 0
    }
}

/// Fault kinds the injector counts.
enum FullStackFault: Int, CaseIterable, CustomStringConvertible {
    case writeEIO, writeENOSPC, writeShort, writeEINTR, writeBadSlot, readEIO, readShort,
        latency, allocationFailure

    var description: String {
        switch self {
        case .writeEIO: "write EIO"
        case .writeENOSPC: "write ENOSPC"
        case .writeShort: "short write"
        case .writeEINTR: "write EINTR"
        case .writeBadSlot: "bad-slot write EIO"
        case .readEIO: "read EIO"
        case .readShort: "short read"
        case .latency: "latency"
        case .allocationFailure: "pageframe alloc failure"
        }
    }
}

/// Per-mille probabilities of each fault.
struct FullStackFaultRates: Sendable {
    var writeEIO = 30
    var writeENOSPC = 20
    var writeShort = 40
    var writeEINTR = 10
    var readEIO = 15
    var readShort = 30
    var latency = 40
    /// Latency added when it fires, in microseconds (uniform up to this).
    var maxLatencyMicros = 400
    var allocationFailure = 50
    /// Every slot whose offset is a multiple of this fails every write (0: none).
    var badSlotModulus: UInt64 = 61
}

/// One atomic counter (an array of `Atomic` is not allowed: it is not copyable).
final class FullStackCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// Decides and counts faults; thread-safe (an atomic counter hashed per call).
final class FullStackFaults: Sendable {
    let rates: FullStackFaultRates
    let enabled = Atomic<Bool>(true)
    private let sequence: Atomic<UInt64>
    private let counts: [FullStackCounter]

    init(rates: FullStackFaultRates = .init(), seed: UInt64) {
        self.rates = rates
        sequence = Atomic(seed)
        counts = FullStackFault.allCases.map { _ in FullStackCounter() }
    }

    /// A uniformly random value in 0..<1000.
    @inline(__always)
    private func roll() -> Int {
        Int(mix64(sequence.wrappingAdd(1, ordering: .relaxed).newValue) % 1000)
    }

    private func hit(_ kind: FullStackFault, _ perMille: Int) -> Bool {
        guard enabled.load(ordering: .relaxed), perMille > 0, roll() < perMille else {
            return false
        }
        counts[kind.rawValue].value.add(1, ordering: .relaxed)
        return true
    }

    func count(_ kind: FullStackFault) -> Int {
        counts[kind.rawValue].value.load(ordering: .relaxed)
    }
    func record(_ kind: FullStackFault, _ n: Int) {
        counts[kind.rawValue].value.add(n, ordering: .relaxed)
    }

    var total: Int { FullStackFault.allCases.reduce(0) { $0 + count($1) } }

    var summary: String {
        FullStackFault.allCases.map { "\($0) \(count($0))" }.joined(separator: ", ")
    }

    private func maybeSleep() {
        if hit(.latency, rates.latency) {
            usleep(UInt32(1 + roll() * rates.maxLatencyMicros / 1000))
        }
    }

    /// With `ZCACHE_FULLSTACK_TRACE=1`: every page write and read per slot, to
    /// explain a wrong page.
    let trace: LockedValue<[UInt64: [String]]>? =
        ProcessInfo.processInfo.environment["ZCACHE_FULLSTACK_TRACE"] == "1"
        ? LockedValue([:]) : nil
    private let traceClock = Atomic<Int>(0)

    func traceEvent(_ slot: UInt64, _ event: String) {
        guard let trace else { return }
        let t = traceClock.wrappingAdd(1, ordering: .relaxed).newValue
        trace.withLock { $0[slot, default: []].append("\(t):\(event)") }
    }

    var clock: Int { traceClock.load(ordering: .relaxed) }

    func history(_ slot: UInt64) -> String {
        trace?.withLock { $0[slot, default: []].suffix(24).joined(separator: " ") } ?? "(no trace)"
    }

    /// The real system calls with faults in front of them.
    var syscalls: SwapSyscalls {
        let base = SwapSyscalls.system
        let real = SwapSyscalls(
            pread: { [self] fd, buffer, offset in
                let result = base.pread(fd, buffer, offset)
                if trace != nil, offset % Int64(pageSize) == 0, result >= 8 {
                    let stamp = buffer.load(as: UInt64.self)
                    traceEvent(
                        UInt64(offset) / UInt64(pageSize),
                        "r\(stamp >> 48):\(stamp & 0xFFFF_FFFF_FFFF)")
                }
                return result
            },
            pwrite: { [self] fd, buffer, offset in
                let result = base.pwrite(fd, buffer, offset)
                if trace != nil, offset % Int64(pageSize) == 0, buffer.count >= 8 {
                    let stamp = buffer.load(as: UInt64.self)
                    traceEvent(
                        UInt64(offset) / UInt64(pageSize),
                        "w\(stamp >> 48):\(stamp & 0xFFFF_FFFF_FFFF)=\(result)")
                }
                return result
            },
            fsync: base.fsync)
        return SwapSyscalls(
            pread: { [self] fd, buffer, offset in
                maybeSleep()
                if hit(.readEIO, rates.readEIO) { return -Int(EIO) }
                if buffer.count > 1, hit(.readShort, rates.readShort) {
                    return real.pread(
                        fd, UnsafeMutableRawBufferPointer(rebasing: buffer[..<(buffer.count / 2)]),
                        offset)
                }
                return real.pread(fd, buffer, offset)
            },
            pwrite: { [self] fd, buffer, offset in
                maybeSleep()
                let slot = UInt64(offset) / UInt64(pageSize)
                if rates.badSlotModulus > 0, slot % rates.badSlotModulus == 0,
                    enabled.load(ordering: .relaxed)
                {
                    traceEvent(slot, "wbad")
                    counts[FullStackFault.writeBadSlot.rawValue].value.add(1, ordering: .relaxed)
                    return -Int(EIO)
                }
                if hit(.writeEIO, rates.writeEIO) {
                    traceEvent(slot, "wEIO")
                    return -Int(EIO)
                }
                if hit(.writeENOSPC, rates.writeENOSPC) {
                    traceEvent(slot, "wENOSPC")
                    return -Int(ENOSPC)
                }
                if hit(.writeEINTR, rates.writeEINTR) { return -Int(EINTR) }
                if buffer.count > 1, hit(.writeShort, rates.writeShort) {
                    return real.pwrite(
                        fd, UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count / 2)]), offset)
                }
                return real.pwrite(fd, buffer, offset)
            },
            fsync: { fd in real.fsync(fd) })
    }

    /// The pool-allocation hook.
    var allocationHook: @Sendable () -> Bool {
        { [self] in
            guard enabled.load(ordering: .relaxed), rates.allocationFailure > 0 else {
                return false
            }
            return roll() < rates.allocationFailure
        }
    }
}

/// A host whose page allocator lends writeback a few pages when zcache's pool
/// is empty; every page lent must come back.
final class FullStackHost: HostMemory {
    let limit: Int
    let lent = Atomic<Int>(0)
    let everLent = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    func lruCounts() -> HostLRUCounts {
        HostLRUCounts(activeFile: 0, inactiveFile: 0, activeAnon: 0, inactiveAnon: 0)
    }

    func allocateForcedPage() -> Bool {
        var current = lent.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = lent.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged {
                everLent.add(1, ordering: .relaxed)
                return true
            }
            current = original
        }
        return false
    }

    func freeForcedPage() {
        let previous = lent.subtract(1, ordering: .relaxed).oldValue
        precondition(previous > 0, "host page freed that was never lent")
    }
}

/// A set with O(1) insert, remove and random pick.
struct RandomSet<Element: Hashable> {
    private(set) var elements: [Element] = []
    private var positions: [Element: Int] = [:]

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    func contains(_ element: Element) -> Bool { positions[element] != nil }

    mutating func insert(_ element: Element) {
        guard positions[element] == nil else { return }
        positions[element] = elements.count
        elements.append(element)
    }

    mutating func remove(_ element: Element) {
        guard let position = positions.removeValue(forKey: element) else { return }
        let last = elements.removeLast()
        if position < elements.count {
            elements[position] = last
            positions[last] = position
        }
    }

    func randomElement(using rng: inout SeededGenerator) -> Element? {
        elements.isEmpty ? nil : elements[Int.random(in: 0..<elements.count, using: &rng)]
    }
}

/// The knobs of one full-stack run.
struct FullStackParameters {
    var threads = 4
    var operations = 1_000_000
    var checkpoints = 40
    var pageframes = 96
    var maxOutstandingWriteback = 24
    var maxLiveEntriesPerThread = 160
    var filesPerThread = 8
    var indicesPerFile = 32
    var seed: UInt64 = 0x5EED_2C0D
    var faults = FullStackFaultRates()
    var allocator = ZCacheAllocatorKind.zbud
    /// The shrinker policy and the pool limit (percent of the pool) under test.
    var shrinkerPolicy = ShrinkerPolicy.seed
    var maxPoolPercent = 100

    /// `ZCACHE_FULLSTACK_OPS` and `ZCACHE_FULLSTACK_SEED` override the defaults.
    static func fromEnvironment(defaultOperations: Int, threads: Int) -> FullStackParameters {
        var parameters = FullStackParameters()
        parameters.threads = threads
        let environment = ProcessInfo.processInfo.environment
        parameters.operations =
            environment["ZCACHE_FULLSTACK_OPS"].flatMap { Int($0) } ?? defaultOperations
        if let seed = environment["ZCACHE_FULLSTACK_SEED"].flatMap({ UInt64($0, radix: 0x10) }) {
            parameters.seed = seed
        }
        parameters.checkpoints = max(4, min(200, parameters.operations / 25_000))
        return parameters
    }
}

/// What a run did, for the summary line and the assertions.
struct FullStackReport {
    var operationsChecked = 0
    var pagesVerified = 0
    var swapInSources: [ZCache.SwapInSource: Int] = [:]
    var cleancacheHits = 0
    var cleancacheMisses = 0
    var readErrorsRetried = 0
    var deviceFullSkips = 0
    var shrinkerScans = 0
    var checkpoints = 0
    var pagesLost = 0
    var failures: [String] = []
}

/// One worker's share of the model; touched by one thread at a time (rounds are
/// separated by joins, which order the accesses).
final class FullStackWorker: @unchecked Sendable {
    let index: Int
    var rng: SeededGenerator
    var swapped: [SwapEntry: PageSpec] = [:]
    var live = RandomSet<SwapEntry>()
    /// files[f * indicesPerFile + i]: the latest page put at (file f, index i),
    /// nil when the model knows the cache cannot hold it.
    var files: [PageSpec?]
    var filesystem: ZCache.FilesystemID
    var stampCounter: UInt64 = 0
    var report = FullStackReport()
    var frozenFor = 0
    let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)

    init(index: Int, seed: UInt64, fileKeys: Int, filesystem: ZCache.FilesystemID) {
        self.index = index
        rng = SeededGenerator(seed: mix64(seed ^ UInt64(index) << 32))
        files = Array(repeating: nil, count: fileKeys)
        self.filesystem = filesystem
    }

    deinit {
        page.deallocate()
        scratch.deallocate()
    }

    func nextSpec(_ bank: PageBank) -> PageSpec {
        stampCounter += 1
        let which = Int.random(in: 0..<bank.count, using: &rng)
        if which == bank.zeroIndex { return PageSpec(bank: which, stamp: 0) }
        return PageSpec(bank: which, stamp: UInt64(index + 1) << 48 | stampCounter)
    }

    /// With tracing on: this worker's operations on each entry.
    var entryTrace: [SwapEntry: [String]] = [:]
    var tracing = false

    func note(_ entry: SwapEntry, _ event: String) {
        if tracing { entryTrace[entry, default: []].append(event) }
    }

    func history(_ entry: SwapEntry) -> String {
        entryTrace[entry, default: []].suffix(12).joined(separator: " ")
    }

    func fail(_ message: String) {
        report.failures.append("worker \(index): \(message)")
    }

    /// A page that came back wrong, or not at all.
    func lose(_ message: String) {
        report.pagesLost += 1
        fail(message)
    }
}

/// Runs the full-stack model test.
final class FullStackRun: @unchecked Sendable {
    let parameters: FullStackParameters
    let cache: ZCache
    let device: SwapDevice
    let host: FullStackHost
    let faults: FullStackFaults
    let bank = PageBank()
    let directory: String
    var workers: [FullStackWorker] = []
    let stop = Atomic<Bool>(false)

    init(_ parameters: FullStackParameters) throws {
        self.parameters = parameters
        var configuration = ZCacheConfiguration()
        configuration.pageframes = parameters.pageframes
        configuration.maxOutstandingWritebackPages = parameters.maxOutstandingWriteback
        configuration.ignoreNonActiveEphemeralPuts = true
        configuration.ignoreNonActivePersistentPuts = true
        configuration.allocator = parameters.allocator
        configuration.shrinkerPolicy = parameters.shrinkerPolicy
        configuration.maxPoolPercent = parameters.maxPoolPercent
        host = FullStackHost(limit: 8)
        cache = ZCache(configuration: configuration, host: host)
        faults = FullStackFaults(rates: parameters.faults, seed: parameters.seed)
        directory =
            NSTemporaryDirectory()
            + "zcache-fullstack-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        var deviceConfiguration = SwapDevice.Configuration()
        deviceConfiguration.ioWorkers = 2
        deviceConfiguration.queueDepth = 64
        deviceConfiguration.syscalls = faults.syscalls
        faults.enabled.store(false, ordering: .relaxed)  // the header is written cleanly
        let slots = parameters.threads * parameters.maxLiveEntriesPerThread * 2 + 64
        device = try SwapDevice.create(
            path: directory + "/swapfile", pages: slots, label: "fullstack",
            configuration: deviceConfiguration)
        try cache.attachSwapDevice(device)
        faults.enabled.store(true, ordering: .relaxed)
        cache.store.pool.injectAllocationFailures(faults.allocationHook)
        let fileKeys = parameters.filesPerThread * parameters.indicesPerFile
        for index in 0..<parameters.threads {
            workers.append(
                FullStackWorker(
                    index: index, seed: parameters.seed, fileKeys: fileKeys,
                    filesystem: try cache.cleancacheInitFilesystem()))
            workers[index].tracing = faults.trace != nil
        }
    }

    deinit {
        device.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs every round, checkpoint and the final teardown; returns the merged report.
    func run() -> FullStackReport {
        let perThread = parameters.operations / parameters.threads
        let rounds = parameters.checkpoints
        var merged = FullStackReport()
        for round in 0..<rounds {
            let ops = perThread / rounds + (round < perThread % rounds ? 1 : 0)
            runInParallel { worker in self.runOps(worker, count: ops) }
            if workers.contains(where: { !$0.report.failures.isEmpty }) { break }
            checkpoint(&merged)
            if !merged.failures.isEmpty { break }
        }
        if merged.failures.isEmpty && workers.allSatisfy({ $0.report.failures.isEmpty }) {
            runInParallel { worker in self.drain(worker) }
            finalChecks(&merged)
        }
        for worker in workers {
            let r = worker.report
            merged.operationsChecked += r.operationsChecked
            merged.pagesVerified += r.pagesVerified
            merged.swapInSources.merge(r.swapInSources, uniquingKeysWith: +)
            merged.cleancacheHits += r.cleancacheHits
            merged.cleancacheMisses += r.cleancacheMisses
            merged.readErrorsRetried += r.readErrorsRetried
            merged.deviceFullSkips += r.deviceFullSkips
            merged.shrinkerScans += r.shrinkerScans
            merged.failures += r.failures
            merged.pagesLost += r.pagesLost
        }
        faults.record(.allocationFailure, cache.store.pool.injectedFailures)
        return merged
    }

    /// Runs `body` once per worker, each on its own thread, and waits for all.
    private func runInParallel(_ body: @escaping @Sendable (FullStackWorker) -> Void) {
        let group = DispatchGroup()
        for worker in workers {
            group.enter()
            let thread = Thread {
                body(worker)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }

    // MARK: Operations

    private func runOps(_ w: FullStackWorker, count: Int) {
        for _ in 0..<count {
            if !w.report.failures.isEmpty || stop.load(ordering: .relaxed) { return }
            step(w)
            w.report.operationsChecked += 1
        }
    }

    private func step(_ w: FullStackWorker) {
        if w.index == 0 {
            if w.frozenFor > 0 {
                w.frozenFor -= 1
                if w.frozenFor == 0 { cache.unfreeze() }
            } else if Int.random(in: 0..<5000, using: &w.rng) == 0 {
                cache.freeze()
                w.frozenFor = 40
            }
        }
        let roll = Int.random(in: 0..<1000, using: &w.rng)
        switch roll {
        case 0..<280:
            if w.live.count < parameters.maxLiveEntriesPerThread { swapOut(w) } else { swapIn(w) }
        case 280..<470: swapIn(w)
        case 470..<540: swapFree(w)
        case 540..<750: cleancachePut(w)
        case 750..<920: cleancacheGet(w)
        case 920..<960: cleancacheInvalidatePage(w)
        case 960..<968: cleancacheInvalidateInode(w)
        case 968..<969: cleancacheInvalidateFilesystem(w)
        case 969..<985:
            let frames = parameters.pageframes
            cache.shrinkerScan(
                counts: HostLRUCounts(
                    activeFile: Int.random(in: 0...frames, using: &w.rng),
                    inactiveFile: Int.random(in: 0...frames / 4, using: &w.rng),
                    activeAnon: Int.random(in: 0...frames, using: &w.rng),
                    inactiveAnon: Int.random(in: 0...frames / 4, using: &w.rng)))
            w.report.shrinkerScans += 1
        case 985..<995:
            cache.writeback(pageframes: Int.random(in: 1...4, using: &w.rng))
        default:
            cache.evictEphemeralPageframes(Int.random(in: 1...3, using: &w.rng))
        }
    }

    private func swapOut(_ w: FullStackWorker) {
        let spec = w.nextSpec(bank)
        bank.fill(w.page, spec)
        let wasActive = Int.random(in: 0..<20, using: &w.rng) != 0
        do {
            let entry = try cache.swapOut(
                page: UnsafeRawBufferPointer(w.page), type: 0, wasActive: wasActive)
            if w.swapped[entry] != nil {
                return w.fail("swapOut handed out \(entry), which still holds a live page")
            }
            w.swapped[entry] = spec
            w.live.insert(entry)
            if w.tracing {
                let cached = device.swapCache.find(entry)
                cached?.release()
                faults.traceEvent(
                    entry.offset,
                    "W\(w.index)out\(spec.stamp & 0xFFFF_FFFF_FFFF)\(cached == nil ? "z" : "sc")")
            }
        } catch .swapDeviceFull {
            w.report.deviceFullSkips += 1
        } catch {
            w.fail("swapOut threw \(error)")
        }
    }

    private func swapIn(_ w: FullStackWorker) {
        guard let entry = w.live.randomElement(using: &w.rng), let spec = w.swapped[entry] else {
            return
        }
        swapIn(w, entry, spec)
    }

    /// Swaps `entry` in and checks it; false when a read error left it swapped out.
    @discardableResult
    private func swapIn(_ w: FullStackWorker, _ entry: SwapEntry, _ spec: PageSpec) -> Bool {
        memset(w.page.baseAddress!, 0xA5, pageSize)
        if w.tracing { faults.traceEvent(entry.offset, "W\(w.index)in<") }
        do {
            let source = try cache.swapIn(entry, into: w.page)
            w.report.swapInSources[source, default: 0] += 1
            if source == .device { cache.reportDiskSwapIns(1) }  // the zswap policy's feedback
            if w.tracing { faults.traceEvent(entry.offset, "W\(w.index)in>\(source)") }
            if !bank.matches(UnsafeRawBufferPointer(w.page), spec, scratch: w.scratch) {
                w.lose(
                    "swapIn of \(entry) from \(source) returned wrong bytes (want \(spec)); "
                        + describe(UnsafeRawBufferPointer(w.page)) + "; " + slotState(entry)
                        + "; slot history " + faults.history(entry.offset) + "; entry history "
                        + w.history(entry))
            }
            w.report.pagesVerified += 1
            w.swapped[entry] = nil
            w.live.remove(entry)
            return true
        } catch .io {
            w.report.readErrorsRetried += 1  // the entry stays; read again later
            return false
        } catch {
            w.fail("swapIn of \(entry) threw \(error)")
            return false
        }
    }

    /// The slot after the failed swap-in, and the counters that can explain a
    /// lost page (a page writeback cannot decompress is dropped, counted only).
    private func slotState(_ entry: SwapEntry) -> String {
        let stats = cache.statistics.zcache
        let slots = device.slots
        let cached = device.swapCache.hasPage(for: entry)
        return "slot now: use count \(slots.useCount(entry)), has-cache \(slots.hasCache(entry)), "
            + "swap-cache page \(cached); decompress errors \(stats.decompressErrors), "
            + "write errors \(stats.writebackWriteErrors), retries \(stats.writebackRetries)"
    }

    private func swapFree(_ w: FullStackWorker) {
        guard let entry = w.live.randomElement(using: &w.rng) else { return }
        if w.tracing { faults.traceEvent(entry.offset, "W\(w.index)free<") }
        cache.swapFree(entry)
        if w.tracing { faults.traceEvent(entry.offset, "W\(w.index)free>") }
        w.swapped[entry] = nil
        w.live.remove(entry)
    }

    private func randomFileKey(_ w: FullStackWorker) -> (slot: Int, file: ObjectID, index: UInt32) {
        let slot = Int.random(in: 0..<w.files.count, using: &w.rng)
        let file = slot / parameters.indicesPerFile
        return (slot, fileObject(w, file), UInt32(slot % parameters.indicesPerFile))
    }

    private func fileObject(_ w: FullStackWorker, _ file: Int) -> ObjectID {
        ObjectID(UInt64(w.index + 1) << 32 | UInt64(file), 0xF11E, 0)
    }

    private func cleancachePut(_ w: FullStackWorker) {
        let (slot, file, index) = randomFileKey(w)
        let spec = w.nextSpec(bank)
        bank.fill(w.page, spec)
        let wasActive = Int.random(in: 0..<20, using: &w.rng) != 0
        do {
            let stored = try cache.cleancachePut(
                w.filesystem, file: file, index: index, page: UnsafeRawBufferPointer(w.page),
                wasActive: wasActive)
            // Not stored: the key was flushed, so a later get must miss.
            w.files[slot] = stored ? spec : nil
        } catch {
            w.fail("cleancachePut threw \(error)")
        }
    }

    private func cleancacheGet(_ w: FullStackWorker) {
        let (slot, file, index) = randomFileKey(w)
        checkGet(w, slot: slot, file: file, index: index)
    }

    private func checkGet(_ w: FullStackWorker, slot: Int, file: ObjectID, index: UInt32) {
        memset(w.page.baseAddress!, 0x5A, pageSize)
        do {
            let hit = try cache.cleancacheGet(w.filesystem, file: file, index: index, into: w.page)
            if hit {
                guard let spec = w.files[slot] else {
                    return w.lose("cleancacheGet hit (\(file), \(index)), which holds nothing")
                }
                if !bank.matches(UnsafeRawBufferPointer(w.page), spec, scratch: w.scratch) {
                    w.lose(
                        "cleancacheGet of (\(file), \(index)) returned wrong bytes (want \(spec)); "
                            + describe(UnsafeRawBufferPointer(w.page)))
                }
                w.report.cleancacheHits += 1
                w.report.pagesVerified += 1
            } else {
                w.report.cleancacheMisses += 1
            }
            w.files[slot] = nil  // a get removes the page either way
        } catch {
            w.fail("cleancacheGet threw \(error)")
        }
    }

    private func cleancacheInvalidatePage(_ w: FullStackWorker) {
        let (slot, file, index) = randomFileKey(w)
        do {
            try cache.cleancacheInvalidatePage(w.filesystem, file: file, index: index)
            w.files[slot] = nil
        } catch {
            w.fail("cleancacheInvalidatePage threw \(error)")
        }
    }

    private func cleancacheInvalidateInode(_ w: FullStackWorker) {
        let file = Int.random(in: 0..<parameters.filesPerThread, using: &w.rng)
        do {
            try cache.cleancacheInvalidateInode(w.filesystem, file: fileObject(w, file))
            for i in 0..<parameters.indicesPerFile {
                w.files[file * parameters.indicesPerFile + i] = nil
            }
        } catch {
            w.fail("cleancacheInvalidateInode threw \(error)")
        }
    }

    private func cleancacheInvalidateFilesystem(_ w: FullStackWorker) {
        do {
            try cache.cleancacheInvalidateFilesystem(w.filesystem)
            for slot in w.files.indices { w.files[slot] = nil }
            // (Pool ids are reused, so another worker may already hold the
            // destroyed id; BadInputTests check a destroyed pool alone.)
            w.filesystem = try cache.cleancacheInitFilesystem()
        } catch {
            w.fail("cleancache filesystem cycle threw \(error)")
        }
    }

    /// What a wrong page holds: its stamp (worker, counter) and which bank page it matches.
    private func describe(_ page: UnsafeRawBufferPointer) -> String {
        let stamp = page.load(fromByteOffset: 0, as: UInt64.self)
        var bankMatch = "no bank page"
        for index in 0..<bank.count {
            let candidate = PageSpec(bank: index, stamp: index == bank.zeroIndex ? 0 : stamp)
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
            defer { scratch.deallocate() }
            if bank.matches(page, candidate, scratch: scratch) { bankMatch = "bank \(index)" }
        }
        let allSame = page.allSatisfy { $0 == page[0] }
        return "got stamp \(stamp >> 48):\(stamp & 0xFFFF_FFFF_FFFF) (\(bankMatch))"
            + (allSame ? ", every byte \(page[0])" : "")
    }

    // MARK: Checkpoints and the end

    /// Waits until no writeback is outstanding and the device is idle.
    private func quiesce() {
        var idleLooks = 0
        while idleLooks < 3 {
            cache.waitForWriteback()
            if cache.statistics.zcache.outstandingWritebackPages == 0 && device.stats.inFlight == 0
            {
                idleLooks += 1
            } else {
                idleLooks = 0
            }
            usleep(200)
        }
    }

    private func checkpoint(_ report: inout FullStackReport) {
        quiesce()
        report.checkpoints += 1
        let where_ = "checkpoint \(report.checkpoints)"
        if !cache.checkFrameAccounting() {
            let s = cache.statistics
            report.failures.append(
                "\(where_): frame accounting broken: pool in use \(s.framePool.framesInUse), "
                    + "eph \(s.zcache.ephPageframes) pers \(s.zcache.persPageframes) "
                    + "held \(s.framePool.writebackPagesHeld)")
        }
        cache.checkInvariants()
        cache.store.pool.checkInvariants()
        let held = cache.tmem.checkInvariants(quiescent: true)
        var liveEntries = 0
        var liveSwapKeys = Set<TMemKey>()
        var liveFileKeys = Set<TMemKey>()
        for w in workers {
            liveEntries += w.live.count
            for entry in w.live.elements {
                if let (object, index) = FrontswapKey.swizzle(
                    type: entry.type, offset: entry.offset)
                {
                    liveSwapKeys.insert(
                        TMemKey(pool: cache.frontswapPool, object: object, index: index))
                }
            }
            for (slot, spec) in w.files.enumerated() where spec != nil {
                liveFileKeys.insert(
                    TMemKey(
                        pool: w.filesystem.pool,
                        object: fileObject(w, slot / parameters.indicesPerFile),
                        index: UInt32(slot % parameters.indicesPerFile)))
            }
        }
        for key in held.keys {
            if key.pool == cache.frontswapPool {
                if !liveSwapKeys.contains(key) {
                    report.failures.append("\(where_): zcache holds \(key), a freed swap entry")
                }
            } else if !liveFileKeys.contains(key) {
                report.failures.append("\(where_): zcache holds \(key), a page the model dropped")
            }
        }
        if device.slots.usedSlots < liveEntries {
            report.failures.append(
                "\(where_): \(device.slots.usedSlots) slots in use for \(liveEntries) live entries")
        }
        if host.lent.load(ordering: .relaxed) != 0 {
            report.failures.append(
                "\(where_): \(host.lent.load(ordering: .relaxed)) host pages not returned")
        }
    }

    /// Swaps in every live entry and gets every cleancache key this worker holds.
    private func drain(_ w: FullStackWorker) {
        for entry in w.live.elements {
            guard let spec = w.swapped[entry] else { continue }
            var attempts = 0
            while !swapIn(w, entry, spec) && w.report.failures.isEmpty {
                attempts += 1
                if attempts > 100 {
                    w.lose("swapIn of \(entry) kept failing with I/O errors")
                    break
                }
            }
        }
        for slot in w.files.indices {
            checkGet(
                w, slot: slot, file: fileObject(w, slot / parameters.indicesPerFile),
                index: UInt32(slot % parameters.indicesPerFile))
        }
        do { try cache.cleancacheInvalidateFilesystem(w.filesystem) } catch {
            w.fail("cleancacheInvalidateFilesystem threw \(error)")
        }
    }

    private func finalChecks(_ report: inout FullStackReport) {
        quiesce()
        // Pages whose write completed drop out of the swap cache on their own.
        let deadline = Date().addingTimeInterval(10)
        while device.swapCache.count > 0 && Date() < deadline {
            quiesce()
            usleep(1000)
        }
        let stats = cache.statistics
        func expect(_ ok: Bool, _ what: String) {
            if !ok { report.failures.append("end: \(what)") }
        }
        expect(cache.checkFrameAccounting(), "frame accounting broken")
        cache.checkInvariants()
        cache.store.pool.checkInvariants()
        expect(cache.tmem.checkInvariants().isEmpty, "tmem still holds pages")
        expect(cache.store.pool.framesInUse == 0, "\(cache.store.pool.framesInUse) frames in use")
        expect(device.slots.usedSlots == 0, "\(device.slots.usedSlots) swap slots in use")
        expect(device.swapCache.count == 0, "\(device.swapCache.count) pages in the swap cache")
        expect(stats.zcache.persZPages == 0 && stats.zcache.ephZPages == 0, "zpages remain")
        expect(
            stats.zcache.zeroFilledPages == 0,
            "\(stats.zcache.zeroFilledPages) zero-filled pages remain")
        expect(stats.zcache.outstandingWritebackPages == 0, "writeback outstanding")
        expect(host.lent.load(ordering: .relaxed) == 0, "host pages not returned")
        expect(cache.store.pool.invalidFrees == 0, "invalid frees")
        expect(device.slots.badFrees == 0, "\(device.slots.badFrees) bad slot frees")
        // Nothing here corrupts a zpage: a decompress error is a bug, and in
        // writeback it drops the page without a word (seen only as a loss later).
        expect(
            stats.zcache.decompressErrors == 0, "\(stats.zcache.decompressErrors) decompress errors"
        )
    }
}
