import CLZ4
import ZCacheSupport

/// LZ4 block format, one page per block. LZ4 keeps its state on the stack, so
/// it needs no context pool.
struct LZ4Codec: PageCodec {
    @inline(__always)
    func compress(_ page: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer)
        -> Int?
    {
        let written = LZ4_compress_default(
            page.baseAddress!.assumingMemoryBound(to: CChar.self),
            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(page.count), Int32(clamping: destination.count))
        // 0 means "does not fit in destination".
        return written > 0 ? Int(written) : nil
    }

    @inline(__always)
    func decompress(_ compressed: UnsafeRawBufferPointer, into page: UnsafeMutableRawBufferPointer)
        throws(DecompressionError)
    {
        guard compressed.count <= Int(Int32.max) else { throw .corruptInput(.lz4) }
        // LZ4_decompress_safe never writes past `page.count` nor reads past
        // `compressed.count`, whatever the input.
        let produced = LZ4_decompress_safe(
            compressed.baseAddress!.assumingMemoryBound(to: CChar.self),
            page.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(compressed.count), Int32(page.count))
        guard produced >= 0 else { throw .corruptInput(.lz4) }
        guard produced == pageSize else { throw .wrongDecompressedSize(Int(produced)) }
    }
}
