// The host's swap paths in real runs: ZCache in front of a swap device.
//
//   reclaim anon   -> ZCache.swapOut   (slot, frontswap store, else device write)
//   fault anon     -> ZCache.swapIn    (swap cache, frontswap load, remote tier,
//                                       device read)
//   reclaim file   -> cleancache put (one filesystem, a file per simulated file)
//   fault file     -> cleancache get
//   reclaim pass   -> ZCache.shrinkerScan(counts:) with the host's LRU counts

import SwapDevice
import ZCache

/// `SwapPaths` over a `ZCache` with one swap device (type `swapType`).
public final class ZCacheSwapPaths: SwapPaths {
    public typealias Entry = SwapEntry

    public let zcache: ZCache
    public let device: SwapDevice
    let filesystem: ZCache.FilesystemID
    /// Cleancache puts that failed with an error (not ones zcache declined).
    public private(set) var cleancacheErrors = 0
    /// Shrinker scans made and what they did in total (ephemeral frames
    /// evicted, persistent pages submitted for writeback).
    public private(set) var shrinkerScans = 0
    public private(set) var shrinkerEvicted = 0
    public private(set) var shrinkerWrittenBack = 0

    public init(zcache: ZCache, device: SwapDevice) throws(ZCacheError) {
        self.zcache = zcache
        self.device = device
        try zcache.attachSwapDevice(device)
        filesystem = try zcache.cleancacheInitFilesystem()
    }

    public func swapOut(_ page: UnsafeRawBufferPointer, wasActive: Bool) throws -> SwapEntry {
        try zcache.swapOut(page: page, type: device.type, wasActive: wasActive)
    }

    public func swapIn(_ entry: SwapEntry, into page: UnsafeMutableRawBufferPointer) throws
        -> SwapInOrigin
    {
        switch try zcache.swapIn(entry, into: page) {
        case .swapCache: return .swapCache
        case .zcache: return .compressedCache
        case .remote: return .remoteTier
        case .device:
            // The feedback the zswap shrinker policy reads, as mm reports a
            // swap-in that zswap missed.
            zcache.reportDiskSwapIns(1)
            return .device
        }
    }

    public func swapFree(_ entry: SwapEntry) { zcache.swapFree(entry) }

    public func cleancachePut(
        file: UInt32, index: UInt32, page: UnsafeRawBufferPointer, wasActive: Bool
    ) {
        do {
            _ = try zcache.cleancachePut(
                filesystem, file: ObjectID(UInt64(file) + 1), index: index, page: page,
                wasActive: wasActive)
        } catch {
            cleancacheErrors += 1
        }
    }

    public func cleancacheGet(file: UInt32, index: UInt32, into page: UnsafeMutableRawBufferPointer)
        -> Bool
    {
        (try? zcache.cleancacheGet(
            filesystem, file: ObjectID(UInt64(file) + 1), index: index, into: page)) ?? false
    }

    public func shrink(counts: LRUCounts) {
        let result = zcache.shrinkerScan(counts: HostLRUCounts(counts))
        shrinkerScans += 1
        shrinkerEvicted += result.evicted
        shrinkerWrittenBack += result.writtenBack
    }

    /// Read on every fault: the cheap counter, not a statistics snapshot.
    public var framesInUse: Int { zcache.pageframesInUse }

    public func quiesce() {
        zcache.waitForWriteback()
        device.drain()
    }
}

extension HostLRUCounts {
    init(_ counts: LRUCounts) {
        self.init(
            activeFile: counts.activeFile, inactiveFile: counts.inactiveFile,
            activeAnon: counts.activeAnon, inactiveAnon: counts.inactiveAnon)
    }
}

/// The host's RAM is where writeback's forced allocations come from.
extension HostRAM: HostMemory {
    public func lruCounts() -> HostLRUCounts { HostLRUCounts(lru) }
    public func allocateForcedPage() -> Bool { takeForcedPage() }
    public func freeForcedPage() { returnForcedPage() }
    public var ramPages: Int? { totalPages }
}
