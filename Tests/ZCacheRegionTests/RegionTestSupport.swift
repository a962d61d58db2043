// Helpers for the region tests: a cache with a scratch swap device, a region
// on it (a test fails with the reason when userfaultfd is unavailable: CI
// runs as root on a kernel that has it, so that is a real failure there), the
// kernel's own count of a region's mapped pages (mincore), and a model of
// the region's contents that every read is checked against.

import Foundation
import XCTest
import ZCache
import ZCacheRegion
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A cache with a swap device of `slots` slots on type 0, in a scratch
/// directory removed when the test ends.
func makeCache(
    _ testCase: XCTestCase, slots: Int, configure: (inout ZCacheConfiguration) -> Void = { _ in }
) throws -> ZCache {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("zcache-region-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
    var configuration = ZCacheConfiguration()
    configure(&configuration)
    let cache = ZCache(configuration: configuration)
    let device = try SwapDevice.create(path: directory + "/swap", pages: slots + 1, type: 0)
    try cache.attachSwapDevice(device)
    return cache
}

/// A region on `cache`, or a skip that says why userfaultfd is unavailable
/// (printed, so a skipped run is never silent). CI runs as root on a kernel
/// with userfaultfd: there the region is always created.
func makeRegion(
    pages: Int, residentLimit: Int, cache: ZCache, policy: ReclaimPolicy = .clock
) throws -> ZCacheRegion {
    do {
        return try ZCacheRegion(
            pages: pages, residentLimit: residentLimit, cache: cache, swapType: 0, policy: policy)
    } catch {
        switch error {
        case .unsupported, .userfaultfdUnavailable, .featureMissing:
            XCTFail("userfaultfd region unavailable: \(error)")
            throw error
        default:
            throw error
        }
    }
}

/// The kernel's count of the region's pages that are mapped (mincore), an
/// independent check of the region's own bookkeeping.
func kernelResidentPages(_ region: ZCacheRegion) -> Int {
    var vector = [UInt8](repeating: 0, count: region.pages)
    let rc = mincore(region.baseAddress, region.buffer.count, &vector)
    precondition(rc == 0, "mincore failed: \(errno)")
    return vector.reduce(0) { $0 + Int($1 & 1) }
}

/// A value to store at a word: compressible (a four-letter alphabet) on
/// three pages in four, random on the fourth, so both zcache and the swap
/// device hold some of the region's pages.
@inline(__always)
func modelValue(page: Int, using generator: inout SplitMix64) -> UInt64 {
    page % 4 == 3 ? generator.next() : generator.next() & 3
}

let wordsPerPage = pageSize / 8

/// Random reads and writes of one thread's words of a region, each read
/// checked against the thread's model of them. 97 % of accesses fall in a
/// hot window of 16 pages that moves one page every 4096 accesses, 3 %
/// anywhere (so about one access in 30 faults, as a program with a working
/// set half the resident limit and a cold tail would); half are writes of `modelValue`. Thread `thread` of `threads`
/// owns the words whose index is `thread` modulo `threads`, so threads share
/// every page (and its faults and reclaims) but never a word.
struct ModelWorkload {
    let region: ZCacheRegion
    let thread: Int
    let threads: Int
    private var model: [UInt64]
    private var generator: SplitMix64
    private(set) var reads = 0
    private(set) var writes = 0
    private(set) var wrongValues = 0
    private var step = 0

    init(region: ZCacheRegion, thread: Int, threads: Int, seed: UInt64) {
        self.region = region
        self.thread = thread
        self.threads = threads
        model = Array(repeating: 0, count: region.pages * wordsPerPage)
        generator = SplitMix64(seed: seed)
    }

    mutating func run(accesses: Int) {
        let pages = region.pages
        let slotsPerPage = wordsPerPage / threads
        for _ in 0..<accesses {
            let random = generator.next()
            let page: Int
            if random % 100 < 97 {
                page = (step / 4096 + Int((random >> 8) % 16)) % pages
            } else {
                page = Int((random >> 8) % UInt64(pages))
            }
            let word =
                page * wordsPerPage + Int((random >> 32) % UInt64(slotsPerPage)) * threads
                + thread
            if (random >> 4) & 1 == 0 {
                let value = modelValue(page: page, using: &generator)
                region.buffer.storeBytes(of: value, toByteOffset: word * 8, as: UInt64.self)
                model[word] = value
                writes += 1
            } else {
                let value = region.buffer.load(fromByteOffset: word * 8, as: UInt64.self)
                if value != model[word] { wrongValues += 1 }
                reads += 1
            }
            step += 1
        }
    }

    /// Reads every word this thread owns; returns how many differ from the model.
    func verifyAll() -> Int {
        var wrong = 0
        for word in stride(from: thread, to: model.count, by: threads) {
            if region.buffer.load(fromByteOffset: word * 8, as: UInt64.self) != model[word] {
                wrong += 1
            }
        }
        return wrong
    }
}
