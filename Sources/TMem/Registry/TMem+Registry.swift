// Clients and pools: creation, destruction and lookup (the kernel's
// `zcache_new_client`, `zcache_new_pool`, `tmem_destroy_pool`).

extension TMem {
    /// Creates a client in the first free client slot.
    ///
    /// - Throws: `tooManyClients` when all ``Configuration/maxClients`` are in use.
    public func newClient() throws(TMemError) -> ClientID {
        try registry.withLock { (registry: inout Registry<Handle>) throws(TMemError) -> ClientID in
            guard let free = registry.clientLive.firstIndex(of: false) else {
                throw .tooManyClients
            }
            registry.clientLive[free] = true
            return ClientID(rawValue: UInt16(free))
        }
    }

    /// Destroys every pool of `client` (freeing all their handles) and then the client.
    public func destroyClient(_ client: ClientID) throws(TMemError) {
        try registry.withLock { (registry: inout Registry<Handle>) throws(TMemError) in
            guard registry.isLive(client) else { throw .unknownClient(client) }
            let first = Int(client.rawValue) * configuration.maxPoolsPerClient
            for slot in first..<first + configuration.maxPoolsPerClient {
                if let pool = registry.pools[slot], pool.liveKind != nil { sweep(pool) }
            }
            registry.clientLive[Int(client.rawValue)] = false
        }
    }

    /// Creates a pool of `kind` for `client` in its first free pool slot.
    ///
    /// - Throws: `unknownClient`, or `tooManyPools` when all
    ///   ``Configuration/maxPoolsPerClient`` slots of the client are in use.
    public func newPool(client: ClientID, kind: PoolKind) throws(TMemError) -> PoolID {
        try registry.withLock { (registry: inout Registry<Handle>) throws(TMemError) -> PoolID in
            guard registry.isLive(client) else { throw .unknownClient(client) }
            for index in 0..<configuration.maxPoolsPerClient {
                let id = PoolID(client: client, index: UInt16(index))
                let slot = Int(client.rawValue) * configuration.maxPoolsPerClient + index
                if let pool = registry.pools[slot] {
                    guard pool.liveKind == nil else { continue }
                    pool.setLive(kind)
                } else {
                    let pool = Pool<Handle>(id: id, bucketCount: configuration.bucketCount)
                    pool.setLive(kind)
                    registry.pools[slot] = pool
                    directory.publish(pool, at: slot)
                }
                return id
            }
            throw .tooManyPools(client)
        }
    }

    /// Whether `pool` is ephemeral or persistent.
    public func poolKind(_ pool: PoolID) throws(TMemError) -> PoolKind {
        guard let kind = try livePool(pool).liveKind else { throw lookupError(pool) }
        return kind
    }

    /// Flushes every page of `pool`, handing each handle to `storage.free` exactly
    /// once, and retires the pool id (operations on it then throw `unknownPool`,
    /// until a `newPool` reuses the slot).
    ///
    /// Safe while other threads use the pool: see "lifecycle of a pool" at the
    /// top of `TMem.swift`.
    public func destroyPool(_ pool: PoolID) throws(TMemError) {
        try registry.withLock { (registry: inout Registry<Handle>) throws(TMemError) in
            guard registry.isLive(pool.client) else { throw .unknownClient(pool.client) }
            guard let slot = slot(of: pool), let live = registry.pools[slot], live.liveKind != nil
            else { throw .unknownPool(pool) }
            sweep(live)
        }
    }

    /// Handles currently stored in `pool`.
    public func handleCount(pool: PoolID) throws(TMemError) -> Int {
        let live = try livePool(pool)
        guard live.liveKind != nil else { throw lookupError(pool) }
        return live.buckets.reduce(0) { $0 + $1.pageCount.load(ordering: .relaxed) }
    }

    /// A snapshot of the counters. Takes no lock; under concurrent use the
    /// fields are each current but not taken at one instant.
    public var stats: TMemStats {
        var pages = 0
        for slot in 0..<configuration.maxClients * configuration.maxPoolsPerClient {
            guard let pool = directory.pool(at: slot), pool.liveKind != nil else { continue }
            for bucket in pool.buckets { pages += bucket.pageCount.load(ordering: .relaxed) }
        }
        return TMemStats(
            objCount: counters.objCount.load(ordering: .relaxed),
            objCountMax: counters.objCountMax.load(ordering: .relaxed),
            flushTotal: counters.flushTotal.load(ordering: .relaxed),
            flushFound: counters.flushFound.load(ordering: .relaxed),
            flobjTotal: counters.flobjTotal.load(ordering: .relaxed),
            flobjFound: counters.flobjFound.load(ordering: .relaxed),
            pagesStored: pages)
    }

    // MARK: Internals

    /// The directory slot of `pool`, or nil if its ids are out of range.
    @inline(__always)
    func slot(of pool: PoolID) -> Int? {
        let client = Int(pool.client.rawValue)
        let index = Int(pool.index)
        guard client < configuration.maxClients, index < configuration.maxPoolsPerClient else {
            return nil
        }
        return client * configuration.maxPoolsPerClient + index
    }

    /// The `Pool` object of `id`, taking no lock. Its liveness must still be
    /// checked (under a bucket lock, for page operations).
    @inline(__always)
    func livePool(_ id: PoolID) throws(TMemError) -> Pool<Handle> {
        guard let slot = slot(of: id), let pool = directory.pool(at: slot) else {
            throw lookupError(id)
        }
        return pool
    }

    /// The error for a pool that was not found: the client's if the client is
    /// unknown, else the pool's. Takes the registry lock: never call it while
    /// holding a bucket lock.
    func lookupError(_ id: PoolID) -> TMemError {
        registry.withLock { registry in
            registry.isLive(id.client) ? .unknownPool(id) : .unknownClient(id.client)
        }
    }

    /// Marks `pool` dead, then empties every bucket under its lock, handing each
    /// handle to `storage.free`. Called with the registry lock held.
    func sweep(_ pool: Pool<Handle>) {
        pool.setLive(nil)
        for bucket in pool.buckets {
            bucket.lock.withLock {
                let objects = bucket.removeAll()
                counters.objectsRemoved(objects.count)
                for (object, map) in objects {
                    map.forEach { index, handle in
                        storage.free(handle, key: TMemKey(pool: pool.id, object: object, index: index))
                    }
                }
            }
        }
    }
}

extension Registry {
    func isLive(_ client: ClientID) -> Bool {
        let index = Int(client.rawValue)
        return index < clientLive.count && clientLive[index]
    }
}
