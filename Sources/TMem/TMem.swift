// TMem: the transcendent-memory object store (the kernel's tmem.c), holding
// opaque handles, never page bytes.
//
// THE PICTURE
//
//   TMem<Storage>
//    ├─ registry: LockedValue        clientLive[maxClients]
//    │                               pools[client * maxPoolsPerClient + index]: Pool?
//    ├─ directory                    the same pool slots as atomic pointers, for
//    │                               lock-free lookup on every page operation
//    └─ Pool (one per used slot)     state: dead | ephemeral | persistent (Atomic)
//         └─ buckets[256]            Bucket: Lock, [ObjectID: PageMap], pageCount
//              └─ PageMap            UInt32 index -> Handle: a direct array when the
//                                    indexes are dense, else an open-addressed table;
//                                    one allocation per object, none per page
//
//   key (pool, object, index) ─> pool slot ─> bucket = top bits of hash(object)
//                             ─> objects[object] ─> pageMap[index] ─> Handle
//
// THE LISTS
//   There are no lists: an object exists exactly while its page map is
//   non-empty (`obj_count` counts them), and a pool's pages are the union of its
//   buckets' maps. Each bucket's `pageCount` is an atomic written under the
//   bucket lock, so statistics read it without taking any lock.
//
// LIFECYCLE OF A HANDLE
//   The storage side (ZCache) compresses the page and allocates the handle
//   *before* `put`, holding no TMem lock. From a successful `put` TMem owns the
//   handle; it leaves TMem exactly once, always under its bucket lock:
//     - a removing `get` hands it to the read closure (read-and-free): the
//       storage side frees it, whether or not it could read it;
//     - everything else hands it to `storage.free`: a `put` that replaces it,
//       `flushPage`, `flushObject`, `destroyPool`, `destroyClient`, `deinit`,
//       and a non-removing `get` whose read failed (the key is dropped, so a get
//       that failed keeps failing until the next put of that key).
//   A `put` that throws took nothing: the caller still owns its handle.
//
// LIFECYCLE OF A POOL
//   A (client, index) slot gets a `Pool` object the first time it is used; the
//   object lives as long as the `TMem`, so the lock-free directory never points
//   at freed memory. `newPool` marks it live (its kind). `destroyPool` marks it
//   dead, then sweeps every bucket under that bucket's lock, freeing every
//   handle. Page operations check liveness *under the bucket lock*, so each one
//   either runs before the sweep of its bucket (and its page is swept) or sees
//   the pool dead and throws `unknownPool`: no handle is missed or freed twice,
//   however destroy and page operations interleave.
//
// LOCKING AND LOCK ORDER (this module's part of the project's lock order)
//
//     TMem registry lock  ->  TMem bucket lock  ->  storage side's locks
//
//   - The registry lock guards client and pool creation and destruction. Page
//     operations never take it except to name the error of a failed lookup,
//     after releasing their bucket lock.
//   - One bucket lock at a time; a page operation holds it while it calls the
//     read closure or `storage.free`. Those run under the bucket lock: they
//     may take storage locks, must not block for long, and must not call TMem.
//   - The storage side calls TMem (`put`, `get`, `flushPage`, ... including
//     `flushPage(_:ifHandle:)` from its evictor) holding none of its own locks.
//     Its evictor owns the memory it evicts; the flush only drops the key and
//     passes the handle to `free`, which must then release nothing the evictor
//     owns.
//   - No TMem lock is ever held across compression, decompression or I/O: the
//     storage side compresses before `put` and decompresses after `get`.
//
// PERFORMANCE
//   The page operations and what they touch (pool directory, bucket, PageMap)
//   are `@inlinable`, so the storage side's module specializes them for its
//   `Handle`. Unspecialized, every operation went through generic metadata
//   lookups and ran about 8x slower (`zcache-sim microbench tmem`).

import Synchronization
import ZCacheSupport

/// The transcendent-memory object store: clients, pools, objects, and a page
/// index -> handle map per object. Every method is safe to call from any thread.
///
/// See the top of `TMem.swift` for the data structure, the lock order and the
/// lifecycle of handles and pools.
public final class TMem<Storage: TMemStorage>: @unchecked Sendable {
    public typealias Handle = Storage.Handle

    /// Limits and policy of one `TMem`.
    public struct Configuration: Sendable {
        /// Client slots (the kernel's `MAX_CLIENTS`, 16). Clamped to 0...256.
        public var maxClients = 16
        /// Pool slots per client (`MAX_POOLS_PER_CLIENT`, 16). Clamped to 0...256.
        public var maxPoolsPerClient = 16
        /// Whether a get from a persistent pool removes the page (frontswap's
        /// exclusive gets; the kernel's default).
        public var exclusiveGets = true
        /// Hash buckets per pool (`TMEM_HASH_BUCKETS`, 256). Rounded up to a power
        /// of two and clamped to 1...65536.
        public var bucketCount = 256

        public init() {}

        var normalized: Configuration {
            var result = self
            result.maxClients = Swift.min(Swift.max(maxClients, 0), 256)
            result.maxPoolsPerClient = Swift.min(Swift.max(maxPoolsPerClient, 0), 256)
            let buckets = Swift.min(Swift.max(bucketCount, 1), 65536)
            result.bucketCount =
                buckets.nonzeroBitCount == 1
                ? buckets : 1 << (Int.bitWidth - buckets.leadingZeroBitCount)
            return result
        }
    }

    /// The side that owns the memory behind handles.
    public let storage: Storage
    /// The configuration in use (after clamping).
    public let configuration: Configuration

    @usableFromInline let counters = TMemCounters()
    let registry: LockedValue<Registry<Handle>>
    @usableFromInline let directory: PoolDirectory<Handle>

    /// Creates an empty store whose handles `storage` owns.
    public init(storage: Storage, configuration: Configuration = .init()) {
        self.storage = storage
        let configuration = configuration.normalized
        self.configuration = configuration
        let slots = configuration.maxClients * configuration.maxPoolsPerClient
        registry = LockedValue(
            Registry(
                clientLive: Array(repeating: false, count: configuration.maxClients),
                pools: Array(repeating: nil, count: slots)))
        directory = PoolDirectory(count: slots)
    }

    /// Hands every handle still stored to `storage.free`, so that each handle a
    /// put stored is released exactly once even if the store goes away first.
    deinit {
        registry.withLock { registry in
            for case let pool? in registry.pools where pool.liveKind != nil {
                sweep(pool)
            }
        }
    }
}

/// Client and pool slots. Guarded by `TMem.registry`.
struct Registry<Handle: Equatable & Sendable> {
    var clientLive: [Bool]
    /// Created on first use of a slot and never released before the `TMem`.
    var pools: [Pool<Handle>?]
}

/// The pool slots as atomic pointers, for lookups that take no lock. A slot is
/// written once (when its `Pool` is created, under the registry lock); the pool
/// it points to is kept alive by `Registry.pools` for the life of the `TMem`.
@usableFromInline
final class PoolDirectory<Handle: Equatable & Sendable>: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<UInt>>
    private let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: Swift.max(count, 1))
        for slot in 0..<count { (slots + slot).initialize(to: Atomic(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    @inlinable @inline(__always)
    func pool(at slot: Int) -> Pool<Handle>? {
        let bits = slots[slot].load(ordering: .acquiring)
        guard let raw = UnsafeRawPointer(bitPattern: bits) else { return nil }
        return Unmanaged<Pool<Handle>>.fromOpaque(raw).takeUnretainedValue()
    }

    func publish(_ pool: Pool<Handle>, at slot: Int) {
        let bits = UInt(bitPattern: Unmanaged.passUnretained(pool).toOpaque())
        slots[slot].store(bits, ordering: .releasing)
    }
}
