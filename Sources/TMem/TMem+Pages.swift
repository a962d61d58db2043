// Page operations: put, get, flush page, flush object (the kernel's
// `tmem_put`, `tmem_get`, `tmem_flush_page`, `tmem_flush_object`).

import Synchronization

extension TMem {
    /// Stores `handle` at `key`. If the key already held a handle, that handle is
    /// removed and passed to `storage.free` first, exactly once. (Putting the
    /// handle the key already holds changes nothing and frees nothing.)
    ///
    /// On success TMem owns `handle`; if this throws, it took nothing and the
    /// caller still owns it.
    ///
    /// - Parameter published: runs with the bucket lock still held, right after
    ///   the insert, before any other thread can see the key: where the storage
    ///   side finishes creating the handle (the kernel's `zbud_create_finish`
    ///   under the hash-bucket lock). Cheap and non-blocking; must not call TMem.
    /// - Throws: `unknownClient` or `unknownPool` (including a pool being destroyed).
    @inlinable
    public func put(_ key: TMemKey, handle: Handle, published: () -> Void = {})
        throws(TMemError)
    {
        try withLiveBucket(key) { bucket, _ in
            let (replaced, newObject) = bucket.insert(handle, key.object, key.index)
            if newObject { counters.objectCreated() }
            published()
            if let replaced, replaced != handle { storage.free(replaced, key: key) }
        }
    }

    /// Looks `key` up and, if it holds a handle, calls `read(handle, removed)` with
    /// the bucket lock held; returns `read`'s value, or nil on a miss.
    ///
    /// `removed` tells whether TMem has just removed the key: always for an
    /// ephemeral pool, for a persistent one when
    /// ``Configuration/exclusiveGets`` is on or `forceRemove` is set. When it is
    /// true, `read` owns the handle and must free it (read-and-free), whatever it
    /// returns. When it is false and `read` returns nil (the storage could not
    /// read it: a frame being evicted, bad data), TMem removes the key and passes
    /// the handle to `storage.free`. Either way a get that fails keeps failing
    /// until the next put of that key.
    ///
    /// `read` runs under the bucket lock: it should copy the compressed bytes out
    /// (and maybe free), and decompress after `get` returns; it must not call TMem.
    ///
    /// - Parameters:
    ///   - ifHandle: act only if the key currently maps to exactly this handle
    ///     (writeback); otherwise return nil and change nothing.
    ///   - forceRemove: remove the key even from a persistent pool without
    ///     exclusive gets (writeback's exclusive load).
    /// - Throws: `unknownClient` or `unknownPool`.
    @inlinable
    public func get<R>(
        _ key: TMemKey, ifHandle: Handle? = nil, forceRemove: Bool = false,
        _ read: (Handle, _ removed: Bool) -> R?
    ) throws(TMemError) -> R? {
        try withLiveBucket(key) { bucket, kind -> R? in
            let removes =
                kind == .ephemeral || configuration.exclusiveGets || forceRemove
            guard
                let (handle, objectGone) = bucket.take(
                    key.object, key.index, ifHandle: ifHandle, removing: removes)
            else { return nil }
            if objectGone { counters.objectsRemoved(1) }
            let value = read(handle, removes)
            if value == nil && !removes {
                drop(key, from: bucket)
                storage.free(handle, key: key)
            }
            return value
        }
    }

    /// Removes `key` and hands its handle to `storage.free`. With `ifHandle`, only
    /// if the key maps to exactly that handle (the evictor's flush).
    ///
    /// - Parameter counted: whether the flush counts in `flush_total` and
    ///   `flush_found`. The kernel counts the front ends' flushes
    ///   (`zcache_flush_page`), not the ones the storage side makes itself
    ///   (the evictor's `tmem_flush_page`, a frozen or refused put).
    /// - Returns: whether a page was flushed.
    /// - Throws: `unknownClient` or `unknownPool`.
    @inlinable
    @discardableResult
    public func flushPage(_ key: TMemKey, ifHandle: Handle? = nil, counted: Bool = true)
        throws(TMemError) -> Bool
    {
        if counted { counters.flushTotal.add(1, ordering: .relaxed) }
        let found = try withLiveBucket(key) { bucket, _ -> Bool in
            if let ifHandle, bucket.lookup(key.object, key.index) != ifHandle { return false }
            guard let handle = drop(key, from: bucket) else { return false }
            storage.free(handle, key: key)
            return true
        }
        if found && counted { counters.flushFound.add(1, ordering: .relaxed) }
        return found
    }

    /// Removes every page of `object` in `pool`, handing each handle to `storage.free`.
    ///
    /// - Returns: the number of pages flushed.
    /// - Throws: `unknownClient` or `unknownPool`.
    @inlinable
    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) throws(TMemError) -> Int {
        counters.flobjTotal.add(1, ordering: .relaxed)
        let key = TMemKey(pool: pool, object: object, index: 0)
        let flushed = try withLiveBucket(key) { bucket, _ -> Int in
            guard let map = bucket.removeObject(object) else { return 0 }
            counters.objectsRemoved(1)
            map.forEach { index, handle in
                storage.free(handle, key: TMemKey(pool: pool, object: object, index: index))
            }
            return map.count
        }
        if flushed != 0 { counters.flobjFound.add(1, ordering: .relaxed) }
        return flushed
    }

    // MARK: Internals

    /// Runs `body` on the bucket of `key` with its lock held, if the pool is live.
    @inlinable @inline(__always)
    func withLiveBucket<R>(
        _ key: TMemKey, _ body: (Bucket<Handle>, PoolKind) -> R
    ) throws(TMemError) -> R {
        let pool = try livePool(key.pool)
        let bucket = pool.bucket(for: key.object)
        bucket.acquire()
        guard let kind = pool.liveKind else {
            bucket.release()
            throw lookupError(key.pool)
        }
        let result = body(bucket, kind)
        #if ZCACHE_INTERNAL_CHECKS
            bucket.checkObject(key.object)
        #endif
        bucket.release()
        return result
    }

    /// Removes `key` from `bucket` (lock held), keeping `obj_count`; returns its handle.
    @discardableResult
    @inlinable @inline(__always)
    func drop(_ key: TMemKey, from bucket: Bucket<Handle>) -> Handle? {
        let (removed, objectGone) = bucket.remove(key.object, key.index)
        if objectGone { counters.objectsRemoved(1) }
        return removed
    }
}
