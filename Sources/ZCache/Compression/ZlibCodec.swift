import CZlib
import ZCacheSupport

/// Raw deflate (no zlib header or checksum: a page needs neither), level 1.
/// Stream contexts are pooled: `deflateInit2` allocates ~256 KiB.
struct ZlibCodec: PageCodec {
    private static let windowBits: Int32 = -15  // raw deflate, 32 KiB window
    private let deflaters: CodecContextPool<UnsafeMutablePointer<z_stream>>
    private let inflaters: CodecContextPool<UnsafeMutablePointer<z_stream>>

    init(level: Int32 = 1) {
        deflaters = CodecContextPool(
            make: {
                let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
                stream.initialize(to: z_stream())
                let rc = zcache_deflateInit2(stream, level, Self.windowBits, 8, Z_DEFAULT_STRATEGY)
                precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
                return stream
            },
            destroy: { stream in
                deflateEnd(stream)
                stream.deallocate()
            })
        inflaters = CodecContextPool(
            make: {
                let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
                stream.initialize(to: z_stream())
                let rc = zcache_inflateInit2(stream, Self.windowBits)
                precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
                return stream
            },
            destroy: { stream in
                inflateEnd(stream)
                stream.deallocate()
            })
    }

    func compress(_ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        deflaters.withContext { stream in
            deflateReset(stream)
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: page.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(page.count)
            stream.pointee.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(destination.count)
            // Anything but Z_STREAM_END means the output did not fit.
            guard deflate(stream, Z_FINISH) == Z_STREAM_END else { return nil }
            return Int(stream.pointee.total_out)
        }
    }

    func decompress(_ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer)
        throws(DecompressionError)
    {
        try inflaters.withContext { (stream) throws(DecompressionError) in
            inflateReset(stream)
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: compressed.baseAddress!.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(compressed.count)
            stream.pointee.next_out = page.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(page.count)
            let rc = inflate(stream, Z_FINISH)
            let produced = Int(stream.pointee.total_out)
            switch rc {
            case Z_STREAM_END:
                guard produced == pageSize else { throw .wrongDecompressedSize(produced) }
            case Z_BUF_ERROR where stream.pointee.avail_out == 0:
                // The stream wants to write more than one page.
                throw .wrongDecompressedSize(produced + 1)
            default:
                throw .corruptInput(.zlib)
            }
        }
    }
}
