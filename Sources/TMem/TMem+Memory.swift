// What TMem's own structures cost, for zcache's `metadata_bytes_per_page`.

extension TMem {
    /// Bytes of TMem's per-object and per-page structures, from their real
    /// capacities: each live pool's buckets' object dictionaries and every
    /// object's page map. (Fixed costs, the pool directory and the bucket
    /// objects themselves, are left out: they do not grow with pages.)
    /// Takes each bucket lock in turn; a snapshot, not one instant.
    public var metadataBytes: Int {
        let objectEntry =
            MemoryLayout<ObjectID>.stride + MemoryLayout<PageMap<Handle>>.stride
        var bytes = 0
        registry.withLock { registry in
            for case let pool? in registry.pools where pool.liveKind != nil {
                for bucket in pool.buckets {
                    bucket.lock.withLock {
                        bytes += bucket.objects.capacity * objectEntry
                        for map in bucket.objects.values { bytes += map.storageBytes }
                    }
                }
            }
        }
        return bytes
    }
}
