// The single compression entry point of ZCache.
//
//   page (4096 bytes) --compress--> zpage (<= bound bytes, caller's buffer)
//   zpage --decompress--> page (exactly 4096 bytes, caller's buffer)
//
// One `Compressor` per cache, its codec chosen at configuration time. The codecs
// are the system's liblz4 (default), zlib (raw deflate) and libzstd. zlib and
// zstd keep expensive stream contexts; those are reused through a small pool
// (`CodecContextPool`), taken and returned around each call, so no context is
// created per page and no lock is held while a codec runs. Nothing on these
// paths allocates on the heap once the pool is warm.

import ZCacheSupport

/// Which codec a `Compressor` uses.
public enum CompressorKind: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// LZ4 (the default): fastest, moderate ratio.
    case lz4
    /// zlib's raw deflate at level 1: slower, better ratio.
    case zlib
    /// Zstandard at level 1: ratio close to zlib at several times its speed.
    case zstd

    /// The codec's name, as `zcache-sim --compressor` takes it.
    public var description: String { rawValue }
}

/// Why a compressed page could not be restored.
public enum DecompressionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The codec rejected the input as malformed (corrupt or truncated data).
    case corruptInput(CompressorKind)
    /// The input decoded, but to a number of bytes other than one page.
    case wrongDecompressedSize(Int)
    /// The destination buffer is not exactly one page.
    case destinationNotOnePage(Int)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .corruptInput(let kind): "corrupt or truncated \(kind) data"
        case .wrongDecompressedSize(let size): "data decompressed to \(size) bytes, not \(pageSize)"
        case .destinationNotOnePage(let size): "destination is \(size) bytes, not \(pageSize)"
        }
    }
}

/// Compresses single pages into caller-provided buffers and restores them.
///
/// Thread-safe: any number of threads may compress and decompress at once.
public final class Compressor: Sendable {
    /// The codec in use.
    public let kind: CompressorKind
    let codec: any PageCodec

    /// Creates a compressor for `kind`.
    public init(_ kind: CompressorKind = .lz4) {
        self.kind = kind
        switch kind {
        case .lz4: codec = LZ4Codec()
        case .zlib: codec = ZlibCodec()
        case .zstd: codec = ZstdCodec()
        }
    }

    /// The size of a destination buffer that can hold any compressed page.
    public static let maxCompressedSize = pageSize + pageSize / 8 + 128

    /// Compresses one page into `destination`.
    ///
    /// - Parameters:
    ///   - page: exactly `pageSize` bytes.
    ///   - destination: where the compressed bytes go; at least `bound` bytes.
    ///   - bound: the largest acceptable compressed size.
    /// - Returns: the compressed size, or `nil` when the page does not compress
    ///   to `bound` bytes or fewer.
    @inline(__always)
    public func compress(
        _ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
        bound: Int
    ) -> Int? {
        precondition(page.count == pageSize, "compress takes exactly one page")
        let limit = min(bound, destination.count)
        guard limit > 0, let base = destination.baseAddress else { return nil }
        return codec.compress(page, into: UnsafeMutableRawBufferPointer(start: base, count: limit))
    }

    /// Restores one page from `compressed` into `page`, checking that exactly
    /// `pageSize` bytes came out.
    @inline(__always)
    public func decompress(
        _ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer
    ) throws(DecompressionError) {
        guard page.count == pageSize else { throw .destinationNotOnePage(page.count) }
        guard compressed.count > 0 else { throw .corruptInput(kind) }
        try codec.decompress(compressed, into: page)
    }
}

/// One codec's page-sized compress and decompress.
protocol PageCodec: Sendable {
    /// Compresses into `destination` (whose size is the bound); `nil` if it does not fit.
    func compress(_ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        -> Int?
    /// Decompresses into a one-page `page`, throwing unless exactly one page comes out.
    func decompress(_ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer)
        throws(DecompressionError)
    /// The idle contexts of the codec's pools, `nil` if it has none (for tests).
    var idleContextCounts: (compress: Int, decompress: Int)? { get }
}
