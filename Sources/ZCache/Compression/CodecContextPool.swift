import ZCacheSupport

/// A pool of reusable codec contexts (zlib streams, zstd contexts).
///
/// A thread takes a context, uses it with no lock held, and gives it back. The
/// pool grows to the peak number of simultaneous users and no further, so a
/// steady workload creates no contexts at all.
package final class CodecContextPool<Context>: @unchecked Sendable {
    private let lock = Lock()
    private var idle: [Context] = []
    private let make: () -> Context
    private let destroy: (Context) -> Void

    package init(make: @escaping () -> Context, destroy: @escaping (Context) -> Void) {
        self.make = make
        self.destroy = destroy
        idle.reserveCapacity(16)
    }

    deinit {
        for context in idle { destroy(context) }
    }

    /// Runs `body` with a context taken from the pool (or made, when none is
    /// idle), and returns the context to the pool afterwards.
    @inline(__always)
    package func withContext<T, E: Error>(_ body: (Context) throws(E) -> T) throws(E) -> T {
        let context = lock.withLock { idle.popLast() } ?? make()
        defer { lock.withLock { idle.append(context) } }
        return try body(context)
    }
}

extension CodecContextPool {
    /// The contexts now in the pool and not in use. Once no call is in flight,
    /// this is every context the pool has made: the peak number of
    /// simultaneous users. For tests.
    package var idleCount: Int { lock.withLock { idle.count } }
}

extension Compressor {
    /// The idle contexts of the codec's compression and decompression pools, or
    /// `nil` for a codec that keeps no contexts (LZ4). For tests.
    package var idleContextCounts: (compress: Int, decompress: Int)? {
        codec.idleContextCounts
    }
}

extension PageCodec {
    /// No context pools by default.
    var idleContextCounts: (compress: Int, decompress: Int)? { nil }
}
