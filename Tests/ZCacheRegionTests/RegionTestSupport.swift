// Helpers for the region tests: a cache with a scratch swap device, a region
// on it (or an XCTSkip that prints why userfaultfd is unavailable), the
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
            print("SKIPPED: userfaultfd region unavailable: \(error)")
            throw XCTSkip("userfaultfd region unavailable: \(error)")
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
