import CZstd
import ZCacheSupport

/// Zstandard single-shot frames at level 1, with pooled contexts.
struct ZstdCodec: PageCodec {
    /// A compression context and the scratch output it compresses into when
    /// the caller's bound is tight. Made once per pooled context, never per page.
    struct CompressionContext {
        let context: OpaquePointer
        let scratch: UnsafeMutableRawBufferPointer
    }

    /// Room for any page's frame. With less room than this, zstd gives up on
    /// some encodings and can fail a page whose frame would fit by a few bytes,
    /// so a tight bound is checked against a frame made in full-size scratch.
    private static let frameBound = ZSTD_compressBound(pageSize)

    private let level: Int32
    private let compressors: CodecContextPool<CompressionContext>
    private let decompressors: CodecContextPool<OpaquePointer>

    init(level: Int32 = 1) {
        self.level = level
        compressors = CodecContextPool(
            make: {
                guard let context = ZSTD_createCCtx() else {
                    fatalError("ZSTD_createCCtx: out of memory")
                }
                return CompressionContext(
                    context: context,
                    scratch: .allocate(byteCount: Self.frameBound, alignment: 16))
            },
            destroy: {
                ZSTD_freeCCtx($0.context)
                $0.scratch.deallocate()
            })
        decompressors = CodecContextPool(
            make: {
                guard let context = ZSTD_createDCtx() else {
                    fatalError("ZSTD_createDCtx: out of memory")
                }
                return context
            },
            destroy: { ZSTD_freeDCtx($0) })
    }

    func compress(_ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        compressors.withContext { compression in
            let output = destination.count >= Self.frameBound ? destination : compression.scratch
            let written = ZSTD_compressCCtx(
                compression.context, output.baseAddress, output.count,
                page.baseAddress, page.count, level)
            // The scratch is large enough for any page, and so is a destination
            // used directly: an error here is not expected, but it means "no".
            guard ZSTD_isError(written) == 0, written <= destination.count else { return nil }
            if output.baseAddress != destination.baseAddress {
                destination.baseAddress!.copyMemory(from: output.baseAddress!, byteCount: written)
            }
            return written
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

extension ZstdCodec {
    var idleContextCounts: (compress: Int, decompress: Int)? {
        (compressors.idleCount, decompressors.idleCount)
    }
}
