// Per-operation latency (p50/p99 ...) and mallocs of ZCache's page paths, for
// every codec: store, load, flush (frontswap) and writeback of one pageframe.
//
//   store      frontswapStore into one of `slots` offsets in turn, so in steady
//              state each store also replaces the page its offset held, as a
//              reused swap slot does
//   load       frontswapLoad of a stored page (non-exclusive gets, so the page
//              stays and every iteration finds one)
//   flush      frontswapInvalidatePage of a page stored just before (the store
//              is outside the measurement)
//   writeback  one persistent pageframe (two zpages) to a swap file, from the
//              call to the end of both writes; the pages are swapped back in
//              outside the measurement
//
// Pages: ZCACHE_BENCH_CORPUS (colon-separated page dumps) or, without it, the
// first pages of system binaries and libraries (zcache-sim's default).
// Allocator benchmarks join these once ZCacheConfiguration has an allocator.

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

/// Offsets the store benchmark cycles through.
let slots = 1024

func makeCache(_ codec: CompressorKind, exclusiveGets: Bool = true) -> ZCache {
    var configuration = ZCacheConfiguration()
    configuration.compressor = codec
    configuration.pageframes = 4 * slots
    configuration.exclusiveGets = exclusiveGets
    configuration.ignoreNonActivePersistentPuts = false
    let cache = ZCache(configuration: configuration)
    try! cache.frontswapInit(type: 0)
    return cache
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        warmupIterations: 200,
        maxDuration: .seconds(2),
        maxIterations: 50_000)

    for codec in CompressorKind.allCases {
        Benchmark("store/\(codec)") { benchmark, cache in
            var offset = 0
            for i in benchmark.scaledIterations {
                offset = (offset + 1) % slots
                let result = try pages[i % pages.count].withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: UInt64(offset), page: $0)
                }
                blackHole(result)
            }
        } setup: {
            makeCache(codec)
        }

        Benchmark("load/\(codec)") { benchmark, state in
            let (cache, buffer) = state
            for i in benchmark.scaledIterations {
                blackHole(try cache.frontswapLoad(type: 0, offset: UInt64(i % slots), into: buffer))
            }
        } setup: {
            let cache = makeCache(codec, exclusiveGets: false)
            for offset in 0..<slots {
                _ = try pages[offset % pages.count].withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: UInt64(offset), page: $0)
                }
            }
            return (
                cache, UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 64)
            )
        }

        Benchmark("flush/\(codec)", configuration: .init(maxIterations: 20_000)) {
            benchmark, cache in
            for i in benchmark.scaledIterations {
                let offset = UInt64(i % slots)
                benchmark.stopMeasurement()
                _ = try pages[i % pages.count].withUnsafeBytes {
                    try cache.frontswapStore(type: 0, offset: offset, page: $0)
                }
                benchmark.startMeasurement()
                try cache.frontswapInvalidatePage(type: 0, offset: offset)
            }
        } setup: {
            makeCache(codec)
        }

        Benchmark("writeback/\(codec)", configuration: .init(maxIterations: 5_000)) {
            benchmark, state in
            let (cache, buffer) = state
            var i = 0
            for _ in benchmark.scaledIterations {
                benchmark.stopMeasurement()
                // Two compressible pages fill one pageframe's two buds.
                let entries = try (0..<2).map { _ in
                    i += 1
                    return try pages[i % pages.count].withUnsafeBytes {
                        try cache.swapOut(page: $0, type: 0)
                    }
                }
                benchmark.startMeasurement()
                blackHole(cache.writeback(pageframes: 1))
                cache.waitForWriteback()
                benchmark.stopMeasurement()
                for entry in entries { _ = try cache.swapIn(entry, into: buffer) }
                benchmark.startMeasurement()
            }
        } setup: {
            let cache = makeCache(codec)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "zcache-benchmark-\(getpid())-\(codec).swap"
            ).path
            let device = try SwapDevice.create(path: path, pages: 4096)
            unlink(path)  // the open descriptor keeps the file until the device closes
            try cache.attachSwapDevice(device)
            return (
                cache, UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 64)
            )
        }
    }
}
