import TMem

/// The cleancache front end: clean file pages the host would otherwise drop.
/// Each filesystem is one ephemeral pool; a file is an object (its file key),
/// a page its index. Ephemeral: a get removes the page, and any page may vanish.
extension ZCache {
    /// A filesystem registered with cleancache (an ephemeral pool).
    public struct FilesystemID: Hashable, Sendable {
        /// The ephemeral pool that holds this filesystem's pages.
        public let pool: PoolID
    }

    /// Registers a filesystem (`cleancache_init_fs`): a new ephemeral pool.
    public func cleancacheInitFilesystem() throws(ZCacheError) -> FilesystemID {
        FilesystemID(
            pool: try tmemCall { () throws(TMemError) in
                try tmem.newPool(client: localClient, kind: .ephemeral)
            })
    }

    /// Offers a clean page that is leaving the page cache (`cleancache_put_page`).
    /// Returns whether it was stored.
    @discardableResult
    public func cleancachePut(
        _ filesystem: FilesystemID, file: ObjectID, index: UInt32, page: UnsafeRawBufferPointer,
        wasActive: Bool = true
    ) throws(ZCacheError) -> Bool {
        // A dead filesystem is refused before compressing: a put that cannot
        // be stored must not take (or evict) a frame on its way to failing.
        _ = try tmemCall { () throws(TMemError) in try tmem.poolKind(filesystem.pool) }
        return try putPage(
            TMemKey(pool: filesystem.pool, object: file, index: index), kind: .ephemeral,
            page: page, wasActive: wasActive
        ).isStored
    }

    /// Looks for a file page (`cleancache_get_page`); a hit removes it from the
    /// cache. Returns whether the page was found and copied into `page`.
    public func cleancacheGet(
        _ filesystem: FilesystemID, file: ObjectID, index: UInt32,
        into page: UnsafeMutableRawBufferPointer
    ) throws(ZCacheError) -> Bool {
        counters.ephGets.increment()
        let hit = try getPage(
            TMemKey(pool: filesystem.pool, object: file, index: index), into: page)
        if hit { counters.ephGetHits.increment() }
        return hit
    }

    /// Drops one file page (`cleancache_invalidate_page`).
    public func cleancacheInvalidatePage(_ filesystem: FilesystemID, file: ObjectID, index: UInt32)
        throws(ZCacheError)
    {
        try flushPage(TMemKey(pool: filesystem.pool, object: file, index: index))
    }

    /// Drops every page of a file (`cleancache_invalidate_inode`).
    public func cleancacheInvalidateInode(_ filesystem: FilesystemID, file: ObjectID)
        throws(ZCacheError)
    {
        try flushObject(pool: filesystem.pool, object: file)
    }

    /// Unregisters a filesystem and drops all its pages (`cleancache_invalidate_fs`).
    public func cleancacheInvalidateFilesystem(_ filesystem: FilesystemID) throws(ZCacheError) {
        try destroyPool(filesystem.pool)
    }
}
