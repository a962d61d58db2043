// ZCache: the Linux kernel's zcache ("zcache2", 2013, with writeback) in user space.
//
//   frontswap store/load ----\                      /-- allocator (ephemeral)  --\
//   cleancache put/get -------+--> ZCache --> TMem -+    zbud | zsmalloc          +--> PageFramePool
//   client/pool API ---------/    (policy)   (keys) \-- allocator (persistent) --/
//                                     |
//                                     +--> writeback --> SwapCache --> SwapDevice (swap file)
//                                     |         \--> RemotePageStore (remote tier, still compressed)
//
// A page comes in through a front end, is compressed (outside every lock, into
// a stack buffer), gets an allocation (a zbud bud or a zsmalloc object, see
// `Allocator/ZPageAllocator.swift`) and a tmem handle (`ZPageHandle`). It
// leaves through a get, a flush, an eviction (ephemeral, LRU first) or
// writeback (persistent, LRU first: decompressed into the swap cache and
// written to the swap device). LRU order is zbud's frame LRU, or ZCache's
// per-entry LRU (`EntryLRU`) for the other allocators.
//
// Put, as the kernel's zcache_pampd_{eph,pers}_create:
//   not one page                 -> error (bad_input_errors)
//   never active (filter on)     -> ignore                     (*_nonactive_puts_ignored)
//   frozen                       -> flush the key instead      (put_to_flush)
//   one 8-byte word repeated     -> sentinel handle, no frame  (same_filled_pages;
//                                   all zero bytes also in zero_filled_pages)
//   eph zsize > 4000             -> refuse                     (compress_poor)
//   pers zsize > 3584            -> refuse                     (compress_poor)
//     (unless storeIncompressible and the allocator has a huge class:
//      stored up to what it holds                             (incompressible_stored))
//   pers zsize > 2560 while mean pers zsize > 2560 -> refuse   (mean_compress_poor)
//   allocate in the class's allocator (zbud: pair with an unbuddied frame,
//   else a new frame from the pool), failed_alloc when the pool is empty;
//   then evict LRU ephemeral memory (a frame, or entries, bounded) and retry
//   (eph_ate_tail / pers_ate_eph, or *_failed), else refuse.
// A put that does not store flushes whatever the key held, so a stale older
// page can never be returned (tmem's "duplicate put flushes the old page first").
//
// Lock order (the whole project; each module documents its part):
//
//   shrinker scan lock (one scan at a time)
//     -> TMem pool-table lock -> TMem bucket lock
//        -> per-entry LRU lock -> allocator lock (ZBud class, ZSmalloc class)
//           -> PageFramePool lock
//   SwapDevice: a SwapEntryWaitTable bucket lock (held while a waiter checks
//     whether its entry is still busy) -> a swap-cache shard lock; the slot map lock
//     and the I/O queue lock take no other lock. No zcache lock is held while
//     calling into the swap device.
//   A swap-cache page's `locked` bit is the kernel's page lock, a sleeping
//   lock, not a mutex: writeback holds it while it loads the zpage into the
//   page (taking TMem and allocator locks under it), and a thread that waits for it
//   (SwapCachePage.lock) holds no mutex while it sleeps. Waiting for a busy
//   swap entry or for writeback progress goes through WaitQueue; nothing spins.
//
// The bucket lock is held while TMem calls back into the storage side (finishing
// a bud's creation as its key is published, copying a bud's compressed bytes
// out, freeing a bud): all short, none blocking. Finishing under the bucket
// lock, as the kernel's zbud_create_finish does, means no other thread can
// reach a bud by its key before it is finished, and a busy (unfinished) frame
// is never evicted before TMem knows its handle.
// The ZBud evictor marks a frame dying under its class lock, drops the lock,
// and only then flushes each bud's key through TMem, so the TMem -> ZBud order
// is never inverted. Compression, decompression and device I/O run with no
// lock held.

import Logging
import SwapDevice
import Synchronization
import TMem
import ZBud
import ZCacheSupport

/// The compressed page cache.
///
/// Every public method is safe to call from many threads at once.
public final class ZCache: Sendable {
    /// The largest compressed size an ephemeral page may have (zbud's largest bud).
    public static let maxEphemeralZSize = ZBud.maxZPageSize
    /// The largest compressed size a persistent page may have (7/8 of a page).
    public static let maxPersistentZSize = pageSize * 7 / 8
    /// Above this size a persistent page is refused while the mean is above it too (5/8 of a page).
    public static let maxMeanPersistentZSize = pageSize * 5 / 8
    /// How many times one allocation evicts LRU ephemeral memory (a zbud frame,
    /// or one entry) and retries before giving up.
    static let maxEvictionsPerAttempt = 64

    /// The configuration this cache was created with.
    public let configuration: ZCacheConfiguration
    /// The codec.
    public let compressor: Compressor

    let counters = ZCacheCounters()
    let store: ZPageStore
    let tmem: TMem<ZPageStore>
    /// zcache's own tmem client (the kernel's LOCAL_CLIENT).
    let localClient: ClientID
    /// Frontswap's single persistent pool, for every swap type. (The kernel
    /// creates it at the first `frontswap_init`; creating it with the cache lets
    /// the store path read it without a lock.)
    let frontswapPool: PoolID
    /// Bit t set: swap type t was initialised.
    let frontswapTypes = Atomic<UInt32>(0)
    let frozen = Atomic<Bool>(false)
    let host: (any HostMemory)?
    let writeback: WritebackEngine
    let shrinker: Shrinker
    /// Where events a user must know about go (write errors, retries given up,
    /// the writeback cap first reached). The library prints nothing itself.
    let logger: Logger?
    let poolLimit = PoolLimitState()
    /// The remote tier writeback sends pages to, if any (nil: the swap file).
    let remote: RemoteWriteback?
    let remoteResidency = RemoteResidency()
    let remoteCounters = RemoteTierCounters()
    /// Points where a test can run code to force a rare interleaving.
    let testHooks = ZCacheTestHooks()

    /// Creates a cache with its own pageframe pool of `configuration.pageframes` frames.
    ///
    /// - Parameters:
    ///   - configuration: the codec, pool size, writeback cap and policies.
    ///   - host: the host's memory, which the shrinker asks for LRU counts
    ///     and writeback asks for pages when zcache's own pool is empty. Optional.
    ///   - logger: receives the events a user must know about: swap device write
    ///     errors, writes given up after their retries, the outstanding-writeback
    ///     cap reached for the first time. Nothing is logged without one.
    ///   - remote: a remote tier to write back to instead of (or before) the
    ///     swap file; nil writes back to the swap file.
    public init(
        configuration: ZCacheConfiguration = .init(), host: (any HostMemory)? = nil,
        logger: Logger? = nil, remote: RemoteWriteback? = nil
    ) {
        precondition(configuration.pageframes > 0, "a cache needs at least one pageframe")
        precondition(configuration.maxOutstandingWritebackPages >= 0)
        self.configuration = configuration
        self.host = host
        self.logger = logger
        self.remote = remote
        compressor = Compressor(configuration.compressor)
        store = ZPageStore(configuration: configuration, counters: counters)
        var tmemConfiguration = TMem<ZPageStore>.Configuration()
        tmemConfiguration.exclusiveGets = configuration.exclusiveGets
        tmem = TMem(storage: store, configuration: tmemConfiguration)
        do {
            localClient = try tmem.newClient()
            frontswapPool = try tmem.newPool(client: localClient, kind: .persistent)
        } catch {
            preconditionFailure("a new TMem has room for a client and a pool: \(error)")
        }
        writeback = WritebackEngine()
        shrinker = Shrinker()
    }

    deinit {
        writeback.shutdown()
    }

    /// Whether puts are currently turned into flushes.
    public var isFrozen: Bool { frozen.load(ordering: .relaxed) }

    /// Makes every later put act as a flush (zcache's `zcache_freeze`).
    public func freeze() { frozen.store(true, ordering: .relaxed) }

    /// Lets puts store pages again.
    public func unfreeze() { frozen.store(false, ordering: .relaxed) }

    /// Every statistic, named as in the kernel's debugfs.
    public var statistics: ZCacheStatistics {
        var s = counters.snapshot(tmem: tmem.stats, store: store)
        s.remote = remoteCounters.snapshot()
        s.remote.remotePages = remoteResidency.count
        s.allocator.metadataBytesTMem = tmem.metadataBytes
        s.allocator.metadataBytesAllocators =
            store.ephemeral.metadataBytes + store.persistent.metadataBytes
        s.allocator.metadataBytesZCache = store.metadataBytes - s.allocator.metadataBytesAllocators
        s.allocator.metadataBytes =
            s.allocator.metadataBytesTMem + s.allocator.metadataBytesAllocators
            + s.allocator.metadataBytesZCache
        // Per page stored, compressed or same-filled (each has a TMem entry).
        let stored = s.zcache.ephZPages + s.zcache.persZPages + s.zcache.sameFilledPages
        s.allocator.metadataBytesPerPage =
            stored == 0 ? 0 : Double(s.allocator.metadataBytes) / Double(stored)
        return s
    }

    /// Moves stored objects together and gives the frames this frees back to
    /// the pool (zsmalloc's compaction; zbud cannot move buds and returns 0).
    /// Returns the frames freed, also counted in `pages_compacted`.
    @discardableResult
    public func compact() -> Int {
        let freed = store.ephemeral.compact() + store.persistent.compact()
        counters.pagesCompacted.increment(by: freed)
        return freed
    }

    /// Gives every free frame beyond the pool's reserve (64 frames) back to
    /// the OS now, without waiting for them to stay free for a second (what
    /// the shrinker scan does, `releaseIdleFrames`); returns how many. For an
    /// owner that has just flushed a lot and will not store again soon (the
    /// simulator, before its final statistics), like `malloc_trim`.
    @discardableResult
    public func releaseFreeFrames() -> Int {
        store.pool.releaseFreeFrames()
    }

    /// The frame accounting identity: frames allocated from the pool minus frames
    /// freed equals the frames both allocators hold plus frames held by
    /// writeback; and zcache's `*_pageframes` levels agree with the
    /// allocators' own counts. Exact when no operation is in flight.
    public func checkFrameAccounting() -> Bool {
        let pool = store.pool
        let inUse = pool.allocatedTotal - pool.freedTotal
        return inUse == pool.framesInUse
            && inUse == store.ephemeral.framesInUse + store.persistent.framesInUse
                + counters.writebackFramesHeld.value
            && store.ephemeral.framesInUse == store.ephemeral.ownFrameCount
            && store.persistent.framesInUse == store.persistent.ownFrameCount
    }

    /// Runs the allocators' and per-entry LRUs' internal invariant checks (a
    /// no-op unless built with `ZCACHE_INTERNAL_CHECKS`, as debug builds are).
    package func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            store.ephemeral.checkInvariants()
            store.persistent.checkInvariants()
            store.ephemeralLRU?.checkInvariants()
            store.persistentLRU?.checkInvariants()
        #endif
    }
}

/// Test seams: code a test runs at a point of a swap path where a race needs
/// one chosen interleaving to be reproduced at will. Unset (nil) in use.
final class ZCacheTestHooks: Sendable {
    /// Runs in `swapFree` right after the last reference to an entry whose
    /// page is in the swap cache was dropped, before that page is removed:
    /// from here on the slot can be freed and handed to a new owner.
    let afterLastReferenceDropped = LockedValue<(@Sendable (SwapEntry) -> Void)?>(nil)
}
