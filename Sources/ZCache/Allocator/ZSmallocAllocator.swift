// zsmalloc behind the allocator seam (zswap's default since 6.x): objects
// of every size packed into size classes, movable by compaction. It keeps no
// LRU and no key: ZCache orders its entries (`EntryLRU`) and stores each
// object's tmem key in front of its compressed bytes (`StoredKey`).

import Synchronization
import ZBud
import ZSmalloc

/// One ZSmalloc (one class of pages) over the shared pool.
final class ZSmallocAllocator: ZPageAllocator {
    let zsmalloc: ZSmalloc
    let zbudClass: ZBudClass
    let counters: ZCacheCounters

    init(class zbudClass: ZBudClass, pool: PageFramePool, counters: ZCacheCounters) {
        // ZSmalloc's defaults: zspages of up to 16 frames (the kernel's
        // longest chain), slot borrowing within 32 bytes.
        zsmalloc = ZSmalloc(pool: pool)
        self.zbudClass = zbudClass
        self.counters = counters
    }

    var maxObjectSize: Int { ZSmalloc.maxObjectSize }

    func allocate(_ data: UnsafeRawBufferPointer, owner: BudOwner) -> UInt32? {
        do throws(ZSmallocError) {
            let handle = try zsmalloc.store(data)
            // zsmalloc takes frames itself: keep zcache's *_pageframes_max true.
            let frames = zsmalloc.framesInUse
            if zbudClass == .ephemeral {
                counters.ephPageframes.raisePeak(to: frames)
            } else {
                counters.persPageframes.raisePeak(to: frames)
            }
            precondition(handle.rawValue < EntryLRU.handleLimit, "zsmalloc handle out of range")
            return handle.rawValue
        } catch {
            // zeroSize and tooLarge cannot come from the put path (sizes are
            // 33...maxObjectSize); noMemory is the empty pool.
            return nil
        }
    }

    /// Published objects need nothing here: the per-entry LRU takes them.
    func published(_ handle: UInt32) {}

    func read(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        zsmalloc.read(ZsHandle(rawValue: handle), size: size, into: buffer) ? size : nil
    }

    func readHead(_ handle: UInt32, upTo size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        zsmalloc.readHead(ZsHandle(rawValue: handle), upTo: size, into: buffer)
    }

    func readAndFree(_ handle: UInt32, size: Int, into buffer: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        zsmalloc.readAndFree(ZsHandle(rawValue: handle), size: size, into: buffer) ? size : nil
    }

    func free(_ handle: UInt32) {
        zsmalloc.free(ZsHandle(rawValue: handle))
    }

    var framesInUse: Int { zsmalloc.framesInUse }

    var ownFrameCount: Int { zsmalloc.framesInUse }

    func compact() -> Int { zsmalloc.compact() }

    /// The handle tables and per-frame zspage records (zsmalloc's own count).
    var metadataBytes: Int { zsmalloc.stats.metadataBytes }

    var allocatorStatistics: AllocatorStatistics {
        let stats = zsmalloc.stats
        var result = AllocatorStatistics()
        result.framesInUse = stats.framesInUse
        result.objects = stats.objectsInUse
        result.objectsStoredTotal = stats.classes.reduce(0) { $0 + $1.objectsStoredTotal }
        // zsmalloc does not count bytes: zcache's counters do, compressed
        // bytes only (the key in front of each object is overhead here).
        result.objectBytes =
            zbudClass == .ephemeral ? counters.ephZBytes.value : counters.persZBytes.value
        result.pagesCompacted = stats.pagesCompacted
        result.classes = stats.classes.map { row in
            var line = SizeClassStatistics()
            line.index = row.index
            line.size = row.size
            line.objectsAllocated = row.objectsAllocated
            line.objectsUsed = row.objectsInUse
            line.pagesUsed = row.frames
            line.pagesPerZspage = row.framesPerZspage
            return line
        }
        return result
    }

    func checkInvariants() { zsmalloc.checkInvariants() }

    var frameLRU: (any FrameLRU)? { nil }
}
