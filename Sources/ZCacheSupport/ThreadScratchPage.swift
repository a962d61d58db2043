// A page-sized scratch buffer per thread, for the compressed bytes a put or a
// get holds between the codec and a lock.
//
//   thread ──pthread_getspecific(key)──> [ header (64 bytes) | page (4096 bytes) ]
//                                          inUse flag           handed to `body`
//
// Why: a 4 KiB `withUnsafeTemporaryAllocation` is above Swift's stack limit
// for temporaries, so every store and load paid a malloc and a free of a
// page (and glibc's consolidation of it) on the swap path. The buffer is
// allocated on a thread's first use and freed by the key's destructor when
// the thread exits. A nested use on the same thread (the buffer is already
// lent out) falls back to a temporary allocation, so `body` may do anything.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A per-thread scratch page.
///
/// `public` with `package` members, as the lock types are (see `Lock`), so
/// that `with` inlines into its callers in other modules and is specialized
/// there.
public enum ThreadScratchPage {
    /// Bytes the per-thread buffer holds.
    public static let capacity = pageSize

    @usableFromInline static let headerSize = 64

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { buffer in buffer?.deallocate() }
        precondition(rc == 0, "pthread_key_create failed: \(rc)")
        return key
    }()

    /// Runs `body` with `byteCount` bytes of scratch memory (16-byte aligned,
    /// contents undefined): the calling thread's page when it is free and big
    /// enough, else a temporary allocation.
    /// Inlinable so that callers specialize it: unspecialized, each call
    /// instantiated the generic metadata of `body`'s type.
    @inlinable @inline(__always)
    package static func with<T, E: Error>(
        byteCount: Int, _ body: (UnsafeMutableRawBufferPointer) throws(E) -> T
    ) throws(E) -> T {
        guard byteCount <= capacity, let base = claim() else {
            return try withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 16) {
                (buffer) throws(E) -> T in try body(buffer)
            }
        }
        defer { base.storeBytes(of: false, as: Bool.self) }
        return try body(UnsafeMutableRawBufferPointer(start: base + headerSize, count: byteCount))
    }

    /// The calling thread's buffer, marked in use; nil if it already is.
    @usableFromInline
    static func claim() -> UnsafeMutableRawPointer? {
        let base: UnsafeMutableRawPointer
        if let existing = pthread_getspecific(key) {
            base = existing
            if base.load(as: Bool.self) { return nil }
        } else {
            base = .allocate(byteCount: headerSize + capacity, alignment: headerSize)
            let rc = pthread_setspecific(key, base)
            guard rc == 0 else {
                base.deallocate()
                return nil
            }
        }
        base.storeBytes(of: true, as: Bool.self)
        return base
    }
}
