// Per-operation latency (p50/p99 ...) and mallocs of ZCache's page paths, for
// every codec: store, load, flush (frontswap) and writeback of one pageframe.
//
//   store      frontswapStore into one of `slots` offsets in turn, so in steady
//              state each store also replaces the page its offset held, as a
//              reused swap slot does
//   load       frontswapLoad of a stored page (non-exclusive gets, so the page
//              stays and every iteration finds one)
//   flush      frontswapInvalidatePage of a stored page
//   writeback  one persistent pageframe (two zpages) to a swap file, from the
//              call to the end of both writes
// One iteration is one operation. What an operation needs (the page to flush,
// the frame to write back) is prepared after `stopMeasurement()` at the end
// of the iteration before (or in setup), so it is never measured.
//
// Pages: ZCACHE_BENCH_CORPUS (colon-separated page dumps) or, without it, the
// first pages of system binaries and libraries (zcache-sim's default).
// Per-allocator benchmarks join these once ZCacheConfiguration has an allocator.

import Benchmark
import Foundation
import ZCache
import ZCacheSim

/// The pages every benchmark cycles through, zero pages left out (zcache keeps
/// no data for them, which would make a store free).
let pages: [[UInt8]] = {
    let corpus =
        ProcessInfo.processInfo.environment["ZCACHE_BENCH_CORPUS"]?
        .split(separator: ":").map(String.init) ?? []
    let bytes =
        corpus.isEmpty
        ? BenchmarkPages.systemPages() : ((try? BenchmarkPages.load(corpus: corpus)) ?? [])
    return stride(from: 0, to: bytes.count, by: pageSize).map {
        Array(bytes[$0..<$0 + pageSize])
    }.filter { $0.contains { $0 != 0 } }
}()

/// Offsets the benchmarks cycle through.
let slots = 1024

/// One benchmark's cache, a page buffer and where it is in its cycle.
final class BenchState {
    let cache: ZCache
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 64)
    var cursor = 0
    var entries: [SwapEntry] = []

    init(_ cache: ZCache) { self.cache = cache }

    /// The next offset and page of the cycle.
    func next() -> (offset: UInt64, page: [UInt8]) {
        cursor += 1
        return (UInt64(cursor % slots), pages[cursor % pages.count])
    }

    func store(_ offset: UInt64, _ page: [UInt8]) throws {
        _ = try page.withUnsafeBytes { try cache.frontswapStore(type: 0, offset: offset, page: $0) }
    }

    /// Swaps out two pages: one zbud pageframe's two buds, or two zsmalloc entries.
    func swapOutPair() throws {
        entries = try (0..<2).map { _ in
            try next().page.withUnsafeBytes { try cache.swapOut(page: $0, type: 0) }
        }
    }
}

func makeCache(
    _ codec: CompressorKind, _ allocator: ZCacheAllocatorKind = .zbud, exclusiveGets: Bool = true
) throws -> ZCache {
    var configuration = ZCacheConfiguration()
    configuration.compressor = codec
    configuration.allocator = allocator
    configuration.pageframes = 4 * slots
    configuration.exclusiveGets = exclusiveGets
    configuration.ignoreNonActivePersistentPuts = false
    let cache = ZCache(configuration: configuration)
    try cache.frontswapInit(type: 0)
    return cache
}

/// A cache holding a page at each of the `slots` offsets.
func filledCache(_ codec: CompressorKind, _ allocator: ZCacheAllocatorKind, exclusiveGets: Bool)
    throws -> BenchState
{
    let state = BenchState(try makeCache(codec, allocator, exclusiveGets: exclusiveGets))
    for _ in 0..<slots {
        let (offset, page) = state.next()
        try state.store(offset, page)
    }
    return state
}

/// A cache with a swap file attached (unlinked at once: the open descriptor
/// keeps the file until the device closes) and a pageframe ready to write back.
func writebackState(_ codec: CompressorKind, _ allocator: ZCacheAllocatorKind) throws -> BenchState
{
    let state = BenchState(try makeCache(codec, allocator))
    let path = FileManager.default.temporaryDirectory.appendingPathComponent(
        "zcache-benchmark-\(getpid())-\(codec)-\(allocator).swap"
    ).path
    let device = try SwapDevice.create(path: path, pages: 4096)
    unlink(path)
    try state.cache.attachSwapDevice(device)
    try state.swapOutPair()
    return state
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        warmupIterations: 200,
        maxDuration: .seconds(2),
        maxIterations: 50_000)

    // The harness's own mallocs per iteration (its measurement start and stop),
    // with an implicit and an explicit stop: subtract them from the others.
    Benchmark("baseline/empty") { _ in blackHole(0) }
    Benchmark("baseline/explicit-stop") { benchmark in
        blackHole(0)
        benchmark.stopMeasurement()
    }
    // The same with a setup state and a throwing closure, as the benchmarks below.
    Benchmark("baseline/setup-state") { _, state in
        blackHole(state.next())
    } setup: {
        BenchState(try makeCache(.lz4))
    }

    for codec in CompressorKind.allCases {
        for allocator in ZCacheAllocatorKind.allCases {
            let name = "\(codec)/\(allocator)"
            Benchmark("store/\(name)") { _, state in
                let (offset, page) = state.next()
                try state.store(offset, page)
            } setup: {
                try filledCache(codec, allocator, exclusiveGets: true)
            }

            Benchmark("load/\(name)") { _, state in
                let (offset, _) = state.next()
                blackHole(
                    try state.cache.frontswapLoad(type: 0, offset: offset, into: state.buffer))
            } setup: {
                try filledCache(codec, allocator, exclusiveGets: false)
            }

            Benchmark("flush/\(name)") { benchmark, state in
                let (offset, page) = state.next()
                try state.cache.frontswapInvalidatePage(type: 0, offset: offset)
                benchmark.stopMeasurement()
                try state.store(offset, page)  // the page the next cycle through flushes
            } setup: {
                try filledCache(codec, allocator, exclusiveGets: true)
            }

            Benchmark("writeback/\(name)", configuration: .init(maxIterations: 5_000)) {
                benchmark, state in
                blackHole(state.cache.writeback(pageframes: 1))
                state.cache.waitForWriteback()
                benchmark.stopMeasurement()
                for entry in state.entries { _ = try state.cache.swapIn(entry, into: state.buffer) }
                try state.swapOutPair()
            } setup: {
                try writebackState(codec, allocator)
            }
        }
    }
}
