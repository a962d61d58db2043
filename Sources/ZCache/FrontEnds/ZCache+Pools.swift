import TMem

/// The client and pool API the front ends are built on, for users who want
/// their own pools. Ephemeral pools behave like cleancache, persistent pools
/// like frontswap (exclusive gets per the configuration).
extension ZCache {
    /// Registers a new tmem client (up to 16, one of which is zcache's own).
    public func newClient() throws(ZCacheError) -> ClientID {
        try tmemCall { () throws(TMemError) in try tmem.newClient() }
    }

    /// Creates a pool for `client` (up to 16 per client).
    public func newPool(client: ClientID, kind: PoolKind) throws(ZCacheError) -> PoolID {
        try tmemCall { () throws(TMemError) in try tmem.newPool(client: client, kind: kind) }
    }

    /// Stores a page at `key`. The not-active filters do not apply here.
    @discardableResult
    public func put(_ key: TMemKey, page: UnsafeRawBufferPointer) throws(ZCacheError) -> PutResult {
        let kind = try tmemCall { () throws(TMemError) in try tmem.poolKind(key.pool) }
        return try putPage(key, kind: kind, page: page, wasActive: true)
    }

    /// Copies the page at `key` into `page`; returns whether it was found.
    public func get(_ key: TMemKey, into page: UnsafeMutableRawBufferPointer) throws(ZCacheError)
        -> Bool
    {
        try getPage(key, into: page)
    }

    /// Drops the page at `key`. Returns whether there was one.
    @discardableResult
    public func flushPage(_ key: TMemKey) throws(ZCacheError) -> Bool {
        try tmemCall { () throws(TMemError) in try tmem.flushPage(key) }
    }

    /// Drops every page of an object. Returns how many there were.
    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) throws(ZCacheError) -> Int {
        try tmemCall { () throws(TMemError) in try tmem.flushObject(pool: pool, object: object) }
    }

    /// Destroys a pool: every page in it is dropped and its memory returned.
    public func destroyPool(_ pool: PoolID) throws(ZCacheError) {
        try tmemCall { () throws(TMemError) in try tmem.destroyPool(pool) }
    }
}
