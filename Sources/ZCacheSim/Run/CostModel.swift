// The cost model: what a run's work would have cost in time, so that policies
// (and zcache against no zcache) are compared on one number, not only on
// counters.
//
//   simulated time = compressions   x compress cost per page
//                  + decompressions x decompress cost per page
//                  + device reads   x device latency      (swap-ins and file reads)
//                  + device writes  x device latency      (swap-outs and writeback)
//
// Reads and decompressions are the workload's: the simulator's final read-back
// of every swapped page (its verification) is not part of any program's run.
//
// The codec costs are measured once at the start of a command, on pages of the
// run's own content source, with the run's codec; the device latency is given
// (`--device-latency-us`, default 100 us, the order of a 4 KiB random access on
// an SSD). Host work that every configuration does alike (LRU handling,
// page-table updates) is left out. Writes are counted at full latency although
// the kernel overlaps them with other work: an upper bound on their cost.

import ZCache
import ZCacheSupport

/// Costs per page of the codec and the device.
public struct CostModel: Sendable, Codable, Equatable {
    public var compressNanosPerPage: Double
    public var decompressNanosPerPage: Double
    public var deviceReadMicros: Double
    public var deviceWriteMicros: Double

    enum CodingKeys: String, CodingKey {
        case compressNanosPerPage = "compress_ns_per_page"
        case decompressNanosPerPage = "decompress_ns_per_page"
        case deviceReadMicros = "device_read_us"
        case deviceWriteMicros = "device_write_us"
    }

    public init(
        compressNanosPerPage: Double, decompressNanosPerPage: Double, deviceReadMicros: Double,
        deviceWriteMicros: Double
    ) {
        self.compressNanosPerPage = compressNanosPerPage
        self.decompressNanosPerPage = decompressNanosPerPage
        self.deviceReadMicros = deviceReadMicros
        self.deviceWriteMicros = deviceWriteMicros
    }

    /// Times `compressor` on `samplePages` pages of `content` (the median of
    /// five rounds over all of them) and pairs it with the device latency.
    public static func measure(
        compressor kind: CompressorKind, content: PageContentSource, deviceLatencyMicros: Double,
        samplePages: Int = 128
    ) -> CostModel {
        let compressor = Compressor(kind)
        let count = max(1, samplePages)
        let pages = UnsafeMutableRawBufferPointer.allocate(
            byteCount: count * pageSize, alignment: 64)
        let slot = Compressor.maxCompressedSize
        let compressed = UnsafeMutableRawBufferPointer.allocate(
            byteCount: count * slot, alignment: 64)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 64)
        defer {
            pages.deallocate()
            compressed.deallocate()
            out.deallocate()
        }
        for i in 0..<count {
            content.fill(
                PageKey(owner: 0, page: UInt32(i), version: 1),
                into: UnsafeMutableRawBufferPointer(
                    rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]))
        }
        var sizes = [Int](repeating: 0, count: count)
        var compressTimes: [Double] = []
        var decompressTimes: [Double] = []
        for _ in 0..<5 {
            let start = monotonicNanoseconds()
            for i in 0..<count {
                sizes[i] =
                    compressor.compress(
                        UnsafeRawBufferPointer(
                            rebasing: pages[(i * pageSize)..<((i + 1) * pageSize)]),
                        into: UnsafeMutableRawBufferPointer(
                            rebasing: compressed[(i * slot)..<((i + 1) * slot)]),
                        bound: slot) ?? 0
            }
            let middle = monotonicNanoseconds()
            for i in 0..<count where sizes[i] > 0 {
                try? compressor.decompress(
                    UnsafeRawBufferPointer(
                        rebasing: compressed[(i * slot)..<(i * slot + sizes[i])]),
                    into: out)
            }
            let end = monotonicNanoseconds()
            compressTimes.append(Double(middle - start) / Double(count))
            let decompressed = max(1, sizes.filter { $0 > 0 }.count)
            decompressTimes.append(Double(end - middle) / Double(decompressed))
        }
        return CostModel(
            compressNanosPerPage: compressTimes.sorted()[2],
            decompressNanosPerPage: decompressTimes.sorted()[2],
            deviceReadMicros: deviceLatencyMicros, deviceWriteMicros: deviceLatencyMicros)
    }

    /// The simulated time of a run's work.
    public func time(of work: SimulatedWork) -> Double {
        (Double(work.compressions) * compressNanosPerPage
            + Double(work.decompressions) * decompressNanosPerPage) / 1e9
            + (Double(work.deviceReads) * deviceReadMicros
                + Double(work.deviceWrites) * deviceWriteMicros) / 1e6
    }
}

/// The work of one run the cost model prices.
public struct SimulatedWork: Sendable, Codable, Equatable {
    /// Pages zcache compressed: every stored page (zbud's cumulative zpages of
    /// both classes) and every put refused after compressing (failed puts).
    public var compressions: Int
    /// Pages zcache decompressed during the workload: swap-ins and cleancache
    /// gets it served, and pages written back (each decompressed into the swap
    /// cache). A zero-filled page served is counted too, though it costs a
    /// memset: a slight overestimate.
    public var decompressions: Int
    /// Pages read from the swap device by the workload's swap-ins, plus file
    /// pages read from the disk (cleancache misses).
    public var deviceReads: Int
    /// Pages written to the swap device (swap-outs zcache refused, writeback).
    public var deviceWrites: Int
    /// The priced total, in seconds.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case compressions, decompressions
        case deviceReads = "device_reads", deviceWrites = "device_writes"
        case seconds
    }
}
