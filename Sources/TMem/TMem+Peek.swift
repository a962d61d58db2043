extension TMem {
    /// Looks `key` up and, if it maps to `ifHandle` (any handle when nil),
    /// calls `read(handle)` with the bucket lock held, removing nothing; returns
    /// `read`'s value, or nil on a miss. The remote tier's writeback reads a
    /// page's compressed bytes this way and drops the key only once the remote
    /// store acknowledged them (`flushPage(_:ifHandle:)`).
    ///
    /// `read` runs under the bucket lock: it must be short and must not call TMem.
    /// - Throws: `unknownClient` or `unknownPool`.
    @inlinable
    public func peek<R>(_ key: TMemKey, ifHandle: Handle? = nil, _ read: (Handle) -> R?)
        throws(TMemError) -> R?
    {
        try withLiveBucket(key) { bucket, _ -> R? in
            guard let handle = bucket.lookup(key.object, key.index) else { return nil }
            if let ifHandle, ifHandle != handle { return nil }
            return read(handle)
        }
    }
}
