// The seam between the simulated host and what sits below its reclaim and
// fault paths. In real runs it is ZCache with a swap device
// (`ZCacheSwapPaths`); in tests of the host alone it is `InMemorySwapPaths`.

import ZCacheSupport

/// Where a swapped-in page came from.
public enum SwapInOrigin: String, Sendable, Codable, CaseIterable {
    /// The swap cache (the page was still there, e.g. under writeback).
    case swapCache
    /// The compressed cache (a frontswap load).
    case compressedCache
    /// The swap device.
    case device
    /// The remote tier (writeback sent the page to another machine's memory).
    case remoteTier
}

/// The host's LRU page counts, as a shrinker sees them.
public struct LRUCounts: Sendable, Equatable, Codable {
    public var activeFile = 0
    public var inactiveFile = 0
    public var activeAnon = 0
    public var inactiveAnon = 0
    public init(
        activeFile: Int = 0, inactiveFile: Int = 0, activeAnon: Int = 0, inactiveAnon: Int = 0
    ) {
        self.activeFile = activeFile
        self.inactiveFile = inactiveFile
        self.activeAnon = activeAnon
        self.inactiveAnon = inactiveAnon
    }
}

/// The swap and page-cache paths the host's reclaim and faults call.
///
/// Pages are exactly `pageSize` bytes. Files are identified by a number, pages
/// in a file by an index.
public protocol SwapPaths: AnyObject {
    /// An opaque handle to a swapped-out page.
    associatedtype Entry

    /// Reclaim of an anonymous page: allocate a slot, store it compressed,
    /// else write it to the device.
    func swapOut(_ page: UnsafeRawBufferPointer, wasActive: Bool) throws -> Entry
    /// A fault on a swapped page: swap cache, compressed cache, then the device.
    /// On success the entry is consumed (its slot released, as `ZCache.swapIn`
    /// does); on failure the caller still holds it.
    func swapIn(_ entry: Entry, into page: UnsafeMutableRawBufferPointer) throws -> SwapInOrigin
    /// The process dropped a swapped page without reading it back.
    func swapFree(_ entry: Entry)
    /// Reclaim of a clean file page: offer it to the cleancache, then drop it.
    func cleancachePut(file: UInt32, index: UInt32, page: UnsafeRawBufferPointer, wasActive: Bool)
    /// A fault on a file page: true when the cleancache had it.
    func cleancacheGet(file: UInt32, index: UInt32, into page: UnsafeMutableRawBufferPointer)
        -> Bool
    /// Called on every reclaim pass with the host's LRU counts (the shrinker).
    func shrink(counts: LRUCounts)
    /// Pageframes the layer below holds that come out of the host's RAM.
    var framesInUse: Int { get }
    /// Waits until nothing is in flight below (end of a run).
    func quiesce()
}

/// A trivial stand-in for the swap paths: uncompressed copies in a dictionary,
/// a bounded "compressed cache" of `cacheCapacity` pages in front of an
/// unbounded "device". Lets the host be tested on its own.
public final class InMemorySwapPaths: SwapPaths {
    public typealias Entry = Int

    private var cache: [Int: [UInt8]] = [:]
    private var device: [Int: [UInt8]] = [:]
    private var cleancache: [UInt64: [UInt8]] = [:]
    private var nextEntry = 1
    private let cacheCapacity: Int
    /// How many times `shrink` was called, and the counts it last saw.
    public private(set) var shrinkCalls = 0
    public private(set) var lastCounts = LRUCounts()

    public init(cacheCapacity: Int) { self.cacheCapacity = cacheCapacity }

    public func swapOut(_ page: UnsafeRawBufferPointer, wasActive: Bool) throws -> Int {
        let entry = nextEntry
        nextEntry += 1
        if wasActive && cache.count < cacheCapacity {
            cache[entry] = Array(page)
        } else {
            device[entry] = Array(page)
        }
        return entry
    }

    public struct MissingEntry: Error {}

    public func swapIn(_ entry: Int, into page: UnsafeMutableRawBufferPointer) throws
        -> SwapInOrigin
    {
        if let bytes = cache.removeValue(forKey: entry) {
            page.copyBytes(from: bytes)
            return .compressedCache
        }
        guard let bytes = device.removeValue(forKey: entry) else { throw MissingEntry() }
        page.copyBytes(from: bytes)
        return .device
    }

    public func swapFree(_ entry: Int) {
        cache[entry] = nil
        device[entry] = nil
    }

    public func cleancachePut(
        file: UInt32, index: UInt32, page: UnsafeRawBufferPointer, wasActive: Bool
    ) {
        guard wasActive, cleancache.count < cacheCapacity else { return }
        cleancache[UInt64(file) << 32 | UInt64(index)] = Array(page)
    }

    public func cleancacheGet(file: UInt32, index: UInt32, into page: UnsafeMutableRawBufferPointer)
        -> Bool
    {
        guard let bytes = cleancache.removeValue(forKey: UInt64(file) << 32 | UInt64(index)) else {
            return false
        }
        page.copyBytes(from: bytes)
        return true
    }

    public func shrink(counts: LRUCounts) {
        shrinkCalls += 1
        lastCounts = counts
    }

    /// Pages held in the stand-in cache count as frames at two per frame.
    public var framesInUse: Int { (cache.count + cleancache.count + 1) / 2 }

    public func quiesce() {}
}
