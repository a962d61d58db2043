import ZCacheSupport

/// A pool of reusable codec contexts (zlib streams, zstd contexts).
///
/// A thread takes a context, uses it with no lock held, and gives it back. The
/// pool grows to the peak number of simultaneous users and no further, so a
/// steady workload creates no contexts at all.
final class CodecContextPool<Context>: @unchecked Sendable {
    private let lock = Lock()
    private var idle: [Context] = []
    private let make: () -> Context
    private let destroy: (Context) -> Void

    init(make: @escaping () -> Context, destroy: @escaping (Context) -> Void) {
        self.make = make
        self.destroy = destroy
        idle.reserveCapacity(16)
    }

    deinit {
        for context in idle { destroy(context) }
    }

    @inline(__always)
    func withContext<T, E: Error>(_ body: (Context) throws(E) -> T) throws(E) -> T {
        let context = lock.withLock { idle.popLast() } ?? make()
        defer { lock.withLock { idle.append(context) } }
        return try body(context)
    }
}
