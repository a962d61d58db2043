// The system codec libraries called directly, with none of ZCache's code in the
// way: the reference the compressor's output and error handling are checked
// against, and the source of streams ZCache never makes itself (other levels,
// inputs larger than a page).

import CLZ4
import CZlib
import CZstd
import ZCache

enum CodecReference {
    /// `bytes` compressed by `kind`'s C library in the format `Compressor` uses
    /// (an LZ4 block, a raw deflate stream, a zstd frame), at `level` (LZ4:
    /// acceleration; zlib, zstd: compression level).
    static func compress(_ bytes: [UInt8], kind: CompressorKind, level: Int32) -> [UInt8] {
        let capacity = bytes.count * 2 + 1024
        var output = [UInt8](repeating: 0, count: capacity)
        let written: Int = bytes.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                switch kind {
                case .lz4:
                    return Int(
                        LZ4_compress_fast(
                            source.baseAddress!.assumingMemoryBound(to: CChar.self),
                            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                            Int32(source.count), Int32(destination.count), level))
                case .zlib:
                    var stream = z_stream()
                    guard zcache_deflateInit2(&stream, level, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK
                    else { return -1 }
                    defer { deflateEnd(&stream) }
                    stream.next_in = UnsafeMutablePointer(
                        mutating: source.baseAddress!.assumingMemoryBound(to: Bytef.self))
                    stream.avail_in = uInt(source.count)
                    stream.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(destination.count)
                    guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                    return Int(stream.total_out)
                case .zstd:
                    let size = ZSTD_compress(
                        destination.baseAddress, destination.count, source.baseAddress,
                        source.count, level)
                    return ZSTD_isError(size) != 0 ? -1 : size
                }
            }
        }
        precondition(written > 0, "reference \(kind) compression failed")
        return Array(output.prefix(written))
    }

    /// `compressed` decoded by `kind`'s C library into at most `capacity` bytes,
    /// or `nil` if the library reports an error.
    static func decompress(_ compressed: [UInt8], kind: CompressorKind, capacity: Int)
        -> [UInt8]?
    {
        var output = [UInt8](repeating: 0, count: capacity)
        let produced: Int = compressed.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                switch kind {
                case .lz4:
                    return Int(
                        LZ4_decompress_safe(
                            source.baseAddress!.assumingMemoryBound(to: CChar.self),
                            destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                            Int32(source.count), Int32(destination.count)))
                case .zlib:
                    var stream = z_stream()
                    guard zcache_inflateInit2(&stream, -15) == Z_OK else { return -1 }
                    defer { inflateEnd(&stream) }
                    stream.next_in = UnsafeMutablePointer(
                        mutating: source.baseAddress!.assumingMemoryBound(to: Bytef.self))
                    stream.avail_in = uInt(source.count)
                    stream.next_out = destination.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(destination.count)
                    guard inflate(&stream, Z_FINISH) == Z_STREAM_END else { return -1 }
                    return Int(stream.total_out)
                case .zstd:
                    let size = ZSTD_decompress(
                        destination.baseAddress, destination.count, source.baseAddress,
                        source.count)
                    return ZSTD_isError(size) != 0 ? -1 : size
                }
            }
        }
        return produced < 0 ? nil : Array(output.prefix(produced))
    }
}
