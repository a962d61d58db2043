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
            // A bound past 4 GiB is as good as 4 GiB for one page.
            stream.pointee.avail_out = uInt(clamping: destination.count)
            switch deflate(stream, Z_FINISH) {
            case Z_STREAM_END:
                return Int(stream.pointee.total_out)
            case Z_OK where stream.pointee.avail_out == 0:
                // deflate stops when the output is full, even if the stream
                // ended exactly there: one more call with a byte of room says
                // whether anything is left (no byte written: the page fits).
                var spare: Bytef = 0
                return withUnsafeMutablePointer(to: &spare) { spare in
                    stream.pointee.next_out = spare
                    stream.pointee.avail_out = 1
                    guard deflate(stream, Z_FINISH) == Z_STREAM_END, stream.pointee.avail_out == 1
                    else { return nil }
                    return Int(stream.pointee.total_out)
                }
            default:
                // The output did not fit.
                return nil
            }
        }
    }

    func decompress(_ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer)
        throws(DecompressionError)
    {
        guard compressed.count <= Int(uInt.max) else { throw .corruptInput(.zlib) }
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
                // Raw deflate stops at its final block and ignores what follows;
                // a stored zpage has no bytes after its end, so trailing bytes
                // mean the data is not what was stored.
                guard stream.pointee.avail_in == 0 else { throw .corruptInput(.zlib) }
            case Z_BUF_ERROR where stream.pointee.avail_out == 0 && stream.pointee.avail_in > 0:
                // The page is full and input is left: the stream decodes to
                // more than one page. (Input used up short of the stream's end
                // is truncation, reported as corrupt below.)
                throw .wrongDecompressedSize(produced + 1)
            default:
                throw .corruptInput(.zlib)
            }
        }
    }
}

extension ZlibCodec {
    var idleContextCounts: (compress: Int, decompress: Int)? {
        (deflaters.idleCount, inflaters.idleCount)
    }
}
