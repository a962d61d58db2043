// ZCacheRegion: a program's own memory as a ZCache front end, through userfaultfd.
//
//   user threads                      fault-handler thread (owns the page table)
//   ------------                      -------------------------------------------
//   load/store in the region          poll(userfaultfd, eventfd)
//     page missing  --fault msg-->      untouched -> UFFDIO_ZEROPAGE + WRITEPROTECT
//     (thread sleeps in the kernel)     stored    -> ZCache.swapIn(entry): zcache,
//                                                    swap cache or device, then
//                                                    UFFDIO_COPY (wakes the thread)
//     write to a clean page --WP msg->  drop its stored copy, unprotect (wakes)
//                                       when the region is full or idle: reclaim
//
//   region (mmap, N pages)      page states (handler only)       ZCache + swap device
//   +----+----+----+----+--     untouched | resident | stored  --> swap type T:
//   |res |    |res |    |       resident: clean copy? (zero or     frontswap store/load
//   +----+----+----+----+--       entry), write-protected,         writeback, cap, shrinker
//     ^ at most R mapped           referenced
//                               clock: mapped pages, oldest first
//
// Storage. Each page that leaves RAM is swapped out to the cache's swap type T
// (`ZCache.swapOut`: a slot on T's device, then frontswap store, else a device
// write), and comes back through `ZCache.swapIn` (swap cache, zcache, device).
// So the region's pages are ordinary frontswap entries: whichever allocator the
// cache is configured with holds them, and writeback, its cap and the shrinker
// treat them as they treat any swapped page.
//
// Residency. At most R pages are mapped. A fault that fills the region is
// followed, once its thread is woken, by the reclaim of one page, so the next
// fault finds room (only a batch of several faults read at once can find the
// region full: then the handler reclaims first, a direct reclaim). When no
// fault is waiting it reclaims down to R minus a batch (R/16), so that a burst
// of faults finds room. Reclaim takes the clock's oldest page; a page referenced since the
// hand last passed it (mapped, or written: a write-protect fault) goes round
// once more, write-protected again so that its next write is seen. Reads of a
// mapped page are invisible to user space (the accessed bit is not exported:
// /proc/self/pagemap has soft-dirty and uffd-wp bits, not "young"), so this is
// a clock over write-protect faults and map order: FIFO for read-only pages,
// LRU-like for written ones. `ReclaimPolicy.fifo` turns the second chance off
// for comparison (`zcache-sim region --policy`).
//
// Dirty tracking. A page is clean while it equals a known copy: the zero page
// (mapped by a read of an untouched page) or its swap entry (a read fault
// keeps the entry when the cache's gets are not exclusive: the load leaves the
// zcache copy). A clean page is mapped write-protected; its first write raises
// a write-protect fault, which drops the copy and unprotects it. Dropping a
// clean page is `madvise(MADV_DONTNEED)` alone. With exclusive gets (the
// cache's default) a load takes the only copy, so pages come back dirty.
//
// The reclaim race. To drop a dirty page the handler write-protects it first
// (from then on a writer faults and sleeps in the kernel until the handler
// reads its message), copies it out, stores it, and only then zaps it. The
// copy is made by the kernel (`process_vm_readv` on ourselves): the write
// protection orders the writers' last stores before it, which the thread
// sanitizer cannot see. A fault message for a page that was dropped after the
// thread faulted is resolved like any missing page, and the copy wakes it.
// Because one thread owns every page-state change, no lock guards the page
// table; the statistics have their own lock.
//
// Failure is safe. Without userfaultfd (not Linux, not root with
// vm.unprivileged_userfaultfd=0, an old kernel) creating a region throws a
// typed error saying why. A page that neither the cache nor the device will
// take stays mapped (the limit is overrun and counted). A page that cannot be
// read back after retries is mapped as zeros and counted as lost, where the
// kernel would raise SIGBUS.
//
// Limits: one process (the region is private anonymous memory); Linux only;
// a region must be closed only when no thread will touch it again.

import ZCache

/// How the reclaimer picks a page to drop.
public enum ReclaimPolicy: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// A clock: the oldest mapped page, unless it was mapped or written since
    /// the hand last passed it (then it is write-protected and goes round again).
    case clock
    /// The oldest mapped page, whatever its use.
    case fifo

    public var description: String { rawValue }
}

/// A region of memory whose cold pages live compressed in a `ZCache`.
///
/// Use `buffer` as ordinary memory from any thread. At most `residentLimit`
/// pages are mapped; the rest are in the cache or on its swap device and come
/// back on touch. Needs a swap device attached to `cache` for `swapType`, with
/// a free slot for every page.
public final class ZCacheRegion: Sendable {
    /// The region's memory. Shared by design: it is ordinary memory that any
    /// thread may read and write; the region's own bookkeeping lives in its
    /// fault handler.
    nonisolated(unsafe) public let buffer: UnsafeMutableRawBufferPointer
    /// Pages in the region.
    public let pages: Int
    /// Pages that may be mapped at once.
    public let residentLimit: Int
    /// The cache holding the region's cold pages.
    public let cache: ZCache
    /// The swap type whose device backs the region.
    public let swapType: Int

    #if os(Linux)
        private let core: RegionCore
    #endif

    /// Maps a region of `pages` pages and starts its fault handler.
    ///
    /// - Throws: `ZCacheRegionError` saying why (no userfaultfd here, a
    ///   missing kernel feature, sizes, no or too small a swap device).
    public init(
        pages: Int, residentLimit: Int, cache: ZCache, swapType: Int,
        policy: ReclaimPolicy = .clock
    ) throws(ZCacheRegionError) {
        #if os(Linux)
            guard pages > 0, residentLimit >= ZCacheRegionLimits.minimumResidentLimit,
                residentLimit <= pages
            else { throw .invalidSize(pages: pages, residentLimit: residentLimit) }
            guard let device = cache.swapDevice(type: swapType) else {
                throw .noSwapDevice(type: swapType)
            }
            guard device.slots.freeSlots >= pages else {
                throw .swapDeviceTooSmall(slots: device.slots.freeSlots, pages: pages)
            }
            core = try RegionCore(
                pages: pages, residentLimit: residentLimit, cache: cache, swapType: swapType,
                policy: policy)
            buffer = UnsafeMutableRawBufferPointer(start: core.base, count: pages * pageSize)
            self.pages = pages
            self.residentLimit = residentLimit
            self.cache = cache
            self.swapType = swapType
        #else
            throw .unsupported
        #endif
    }

    deinit { close() }

    /// The region's first byte.
    public var baseAddress: UnsafeMutableRawPointer { buffer.baseAddress! }

    /// Counters, fault latencies, residency and the cache's figures.
    public var statistics: ZCacheRegionStatistics {
        #if os(Linux)
            core.statistics()
        #else
            ZCacheRegionStatistics()
        #endif
    }

    /// Waits until the fault handler has nothing left to do (no fault pending,
    /// reclaim at its watermark), so the statistics describe a quiet region.
    public func waitUntilIdle() {
        #if os(Linux)
            core.waitUntilIdle()
        #endif
    }

    /// Stops the fault handler, unmaps the region and frees every swap entry it
    /// holds. Call it only when no thread will touch the region again. Idempotent.
    public func close() {
        #if os(Linux)
            core.shutdown()
        #endif
    }
}
