import TMem

/// The client and pool API the front ends are built on, for users who want
/// their own pools. Ephemeral pools behave like cleancache, persistent pools
/// like frontswap (exclusive gets per the configuration).
extension ZCache {
    /// Registers a new tmem client (up to 16, one of which is zcache's own).
    public func newClient() throws(ZCacheError) -> ClientID {
        do { return try tmem.newClient() } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
    }

    /// Creates a pool for `client` (up to 16 per client).
    public func newPool(client: ClientID, kind: PoolKind) throws(ZCacheError) -> PoolID {
        do { return try tmem.newPool(client: client, kind: kind) } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
    }

    /// Stores a page at `key`. The not-active filters do not apply here.
    @discardableResult
    public func put(_ key: TMemKey, page: UnsafeRawBufferPointer) throws(ZCacheError) -> PutResult {
        let kind: PoolKind
        do { kind = try tmem.poolKind(key.pool) } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
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
        do { return try tmem.flushPage(key) } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
    }

    /// Drops every page of an object. Returns how many there were.
    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) throws(ZCacheError) -> Int {
        do { return try tmem.flushObject(pool: pool, object: object) } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
    }

    /// Destroys a pool: every page in it is dropped and its memory returned.
    public func destroyPool(_ pool: PoolID) throws(ZCacheError) {
        do { try tmem.destroyPool(pool) } catch {
            counters.badInputErrors.increment()
            throw .tmem(error)
        }
    }
}
