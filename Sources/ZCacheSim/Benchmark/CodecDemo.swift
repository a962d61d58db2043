import ZCache
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Monotonic time in nanoseconds.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 { MonotonicClock.nanoseconds() }

/// Compresses and restores every page with each codec; reports sizes and speed.
public enum CodecDemo {
    public struct Row: Sendable, Codable {
        public var compressor: String
        public var pages: Int
        public var compressedPages: Int
        public var compressedBytes: Int
        public var ratio: Double
        public var compressPagesPerSecond: Double
        public var decompressPagesPerSecond: Double
        public var verified: Int
    }

    public static func run(pages bytes: [UInt8], kinds: [CompressorKind] = CompressorKind.allCases)
        -> [Row]
    {
        let count = bytes.count / pageSize
        return kinds.map { kind in
            let compressor = Compressor(kind)
            var sizes = [Int](repeating: 0, count: count)
            let slot = Compressor.maxCompressedSize
            var out = [UInt8](repeating: 0, count: count * slot)
            var verified = 0
            var compressNs: UInt64 = 0
            var decompressNs: UInt64 = 0
            bytes.withUnsafeBytes { input in
                out.withUnsafeMutableBytes { output in
                    let t0 = monotonicNanoseconds()
                    for i in 0..<count {
                        let page = UnsafeRawBufferPointer(
                            rebasing: input[i * pageSize..<(i + 1) * pageSize])
                        let dst = UnsafeMutableRawBufferPointer(
                            rebasing: output[i * slot..<(i + 1) * slot])
                        sizes[i] = compressor.compress(page, into: dst, bound: pageSize) ?? 0
                    }
                    let t1 = monotonicNanoseconds()
                    withUnsafeTemporaryAllocation(byteCount: pageSize, alignment: 16) { restored in
                        for i in 0..<count where sizes[i] > 0 {
                            let src = UnsafeRawBufferPointer(
                                rebasing: output[i * slot..<i * slot + sizes[i]])
                            if (try? compressor.decompress(src, into: restored)) != nil,
                                memcmp(
                                    restored.baseAddress!, input.baseAddress! + i * pageSize,
                                    pageSize) == 0
                            {
                                verified += 1
                            }
                        }
                    }
                    let t2 = monotonicNanoseconds()
                    compressNs = t1 - t0
                    decompressNs = t2 - t1
                }
            }
            let stored = sizes.filter { $0 > 0 }
            let total = stored.reduce(0, +)
            return Row(
                compressor: kind.rawValue, pages: count, compressedPages: stored.count,
                compressedBytes: total,
                ratio: total == 0 ? 0 : Double(stored.count * pageSize) / Double(total),
                compressPagesPerSecond: Double(count) / (Double(max(compressNs, 1)) / 1e9),
                decompressPagesPerSecond: Double(stored.count)
                    / (Double(max(decompressNs, 1)) / 1e9),
                verified: verified)
        }
    }
}
