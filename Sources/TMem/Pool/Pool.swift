// A pool and its hash buckets (the kernel's `tmem_pool` and `tmem_hashbucket`).

import Synchronization
import ZCacheSupport

/// One pool slot's storage. Created the first time its (client, index) slot is
/// used and kept for the life of the `TMem`, so lock-free lookups never see it
/// freed; `destroyPool` empties it and marks it dead, `newPool` revives it.
@usableFromInline
final class Pool<Handle: Equatable & Sendable>: @unchecked Sendable {
    /// The slot's id, the same for every incarnation of the pool.
    @usableFromInline let id: PoolID
    /// 0: dead (destroyed or not yet created); 1: ephemeral; 2: persistent.
    /// Written under the registry lock; read by page operations under a bucket
    /// lock, which is what orders them against `destroyPool`'s sweep.
    @usableFromInline let state = Atomic<UInt8>(0)
    @usableFromInline let buckets: [Bucket<Handle>]
    /// 64 - log2(buckets.count): bucket = hash >> bucketShift.
    @usableFromInline let bucketShift: UInt64

    init(id: PoolID, bucketCount: Int) {
        self.id = id
        precondition(bucketCount > 0 && bucketCount.nonzeroBitCount == 1)
        buckets = (0..<bucketCount).map { _ in Bucket() }
        bucketShift = UInt64(64 - bucketCount.trailingZeroBitCount)
    }

    /// The pool's kind, or nil once destroyed.
    @inlinable
    var liveKind: PoolKind? {
        switch state.load(ordering: .acquiring) {
        case 1: .ephemeral
        case 2: .persistent
        default: nil
        }
    }

    func setLive(_ kind: PoolKind?) {
        let value: UInt8 =
            switch kind {
            case nil: 0
            case .ephemeral: 1
            case .persistent: 2
            }
        state.store(value, ordering: .releasing)
    }

    @inlinable @inline(__always)
    func bucket(for object: ObjectID) -> Bucket<Handle> {
        // `>>` is a smart shift: a single bucket (shift 64) gets index 0.
        buckets[Int(truncatingIfNeeded: object.bucketHash >> bucketShift)]
    }
}

/// One hash bucket: its objects and their page maps, under one lock.
@usableFromInline
final class Bucket<Handle: Equatable & Sendable>: @unchecked Sendable {
    let lock = Lock()
    /// Objects with at least one page. Guarded by `lock`.
    /// (Unchecked exclusivity: the lock already serializes every access.)
    @usableFromInline @exclusivity(unchecked) var objects: [ObjectID: PageMap<Handle>] = [:]
    /// Pages stored in `objects`. Written only under `lock`; read without it by
    /// statistics (the bucket's own cache line: no sharing between buckets).
    @usableFromInline let pageCount = Atomic<Int>(0)

    /// Takes `lock` (a call, so inlined callers need not see the lock type).
    @usableFromInline
    func acquire() { lock.lock() }

    @usableFromInline
    func release() { lock.unlock() }

    @inlinable @inline(__always)
    func addPages(_ delta: Int) {
        pageCount.store(pageCount.load(ordering: .relaxed) + delta, ordering: .relaxed)
    }

    @inlinable
    func lookup(_ object: ObjectID, _ index: UInt32) -> Handle? {
        guard let position = objects.index(forKey: object) else { return nil }
        return objects.values[position].lookup(index)
    }

    /// A get's one probe of the object table: the page's handle, or nil when
    /// the key holds none or (with `ifHandle`) another one; the page is
    /// removed when `removing`. `objectGone`: the removal emptied the object.
    @inlinable
    func take(_ object: ObjectID, _ index: UInt32, ifHandle: Handle?, removing: Bool) -> (
        handle: Handle, objectGone: Bool
    )? {
        guard let position = objects.index(forKey: object),
            let (handle, nowEmpty) = objects.values[position].take(
                index, ifHandle: ifHandle, removing: removing)
        else { return nil }
        if removing { addPages(-1) }
        if nowEmpty { objects.remove(at: position) }
        return (handle, nowEmpty)
    }

    /// Stores `handle`; returns the handle it replaced and whether the object is new.
    @inlinable
    func insert(_ handle: Handle, _ object: ObjectID, _ index: UInt32) -> (
        replaced: Handle?, newObject: Bool
    ) {
        var objectCount = 0
        let replaced = objects[object, default: PageMap()].insertCounting(
            handle, at: index, count: &objectCount)
        if replaced == nil { addPages(1) }
        return (replaced, replaced == nil && objectCount == 1)
    }

    /// Removes the page; returns its handle and whether its object went away.
    @inlinable
    func remove(_ object: ObjectID, _ index: UInt32) -> (removed: Handle?, objectGone: Bool) {
        guard let position = objects.index(forKey: object) else { return (nil, false) }
        guard let removed = objects.values[position].remove(index) else { return (nil, false) }
        addPages(-1)
        if objects.values[position].isEmpty {
            objects.remove(at: position)
            return (removed, true)
        }
        return (removed, false)
    }

    /// Removes the whole object and returns its page map.
    @inlinable
    func removeObject(_ object: ObjectID) -> PageMap<Handle>? {
        guard let map = objects.removeValue(forKey: object) else { return nil }
        addPages(-map.count)
        return map
    }

    /// Removes every object and returns them.
    func removeAll() -> [ObjectID: PageMap<Handle>] {
        let all = objects
        objects = [:]
        pageCount.store(0, ordering: .relaxed)
        return all
    }
}

extension PageMap {
    /// `insert`, also reporting the map's count afterwards.
    @inlinable @inline(__always)
    mutating func insertCounting(_ handle: Handle, at index: UInt32, count: inout Int) -> Handle? {
        let replaced = insert(handle, at: index)
        count = self.count
        return replaced
    }
}
