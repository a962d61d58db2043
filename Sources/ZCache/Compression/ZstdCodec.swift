import CZstd
import ZCacheSupport

/// Zstandard single-shot frames at level 1, with pooled contexts.
struct ZstdCodec: PageCodec {
    private let level: Int32
    private let compressors: CodecContextPool<OpaquePointer>
    private let decompressors: CodecContextPool<OpaquePointer>

    init(level: Int32 = 1) {
        self.level = level
        compressors = CodecContextPool(
            make: {
                guard let context = ZSTD_createCCtx() else { fatalError("ZSTD_createCCtx: out of memory") }
                return context
            },
            destroy: { ZSTD_freeCCtx($0) })
        decompressors = CodecContextPool(
            make: {
                guard let context = ZSTD_createDCtx() else { fatalError("ZSTD_createDCtx: out of memory") }
                return context
            },
            destroy: { ZSTD_freeDCtx($0) })
    }

    func compress(_ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        compressors.withContext { context in
            let written = ZSTD_compressCCtx(
                context, destination.baseAddress, destination.count,
                page.baseAddress, page.count, level)
            // An error here is "destination too small".
            return ZSTD_isError(written) != 0 ? nil : written
        }
    }

    func decompress(_ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer)
        throws(DecompressionError)
    {
        try decompressors.withContext { (context) throws(DecompressionError) in
            let produced = ZSTD_decompressDCtx(
                context, page.baseAddress, page.count, compressed.baseAddress, compressed.count)
            guard ZSTD_isError(produced) == 0 else {
                // A frame that would decode to more than one page reports
                // "destination too small".
                if ZSTD_getErrorCode(produced) == ZSTD_error_dstSize_tooSmall {
                    throw .wrongDecompressedSize(page.count + 1)
                }
                throw .corruptInput(.zstd)
            }
            guard produced == pageSize else { throw .wrongDecompressedSize(produced) }
        }
    }
}
