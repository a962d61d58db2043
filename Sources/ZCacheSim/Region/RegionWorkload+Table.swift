import ZCacheRegion

extension RegionWorkload {
    /// The report as a plain-text table.
    public static func table(_ report: RegionWorkloadReport) -> String {
        let r = report.region
        func us(_ nanoseconds: UInt64) -> String {
            String(format: "%.2f us", Double(nanoseconds) / 1000)
        }
        func percent(_ fraction: Double) -> String { String(format: "%.3f", fraction) }
        func latency(_ name: String, _ s: LatencySummary) -> String {
            "  \(name): \(s.count) faults, p50 \(us(s.p50Nanoseconds)), p90 \(us(s.p90Nanoseconds)), "
                + "p99 \(us(s.p99Nanoseconds)), max \(us(s.maxNanoseconds))"
        }
        var lines: [String] = []
        lines.append(
            "region: \(report.pages) pages, resident limit \(report.residentLimit), "
                + "policy \(report.policy), exclusive gets \(report.exclusiveGets)")
        lines.append("contents: \(report.contents)")
        lines.append(
            "image: \(report.imagePagesChecked) pages read back, \(report.imagePagesWrong) wrong, "
                + String(format: "%.2f s", report.imageSeconds))
        lines.append(
            "  memory while all readable: \(report.imageResidentPages) mapped "
                + "(mincore \(report.imageKernelResidentPages)) + \(report.imageCachePageframes) "
                + "zcache frames = \(percent(report.imageMemoryFraction)) of the region; "
                + String(format: "effective compression %.2fx", report.imageEffectiveCompression))
        lines.append(
            "hash table: \(report.inserts) inserts, \(report.lookups) lookups, "
                + "\(report.valuesChecked) values checked, \(report.valuesWrong) wrong, "
                + String(format: "%.2f s", report.hashSeconds)
                + "; \(report.hashFaults) faults, "
                + String(
                    format: "%.1f us wall time per fault",
                    report.hashFaults == 0
                        ? 0 : report.hashSeconds * 1e6 / Double(report.hashFaults)))
        lines.append(
            "window: \(report.windowAccesses) word accesses, \(report.windowReadsWrong) wrong, "
                + "\(report.windowFaults) faults + \(report.windowWriteProtectFaults) "
                + "write-protect faults, " + String(format: "%.2f s", report.windowSeconds))
        lines.append(
            "faults: zero \(r.zeroFaults), zcache \(r.zcacheFaults), swap cache "
                + "\(r.swapCacheFaults), device \(r.deviceFaults), write-protect "
                + "\(r.writeProtectFaults), spurious \(r.spuriousFaults), lost \(r.lostPages)")
        lines.append(
            "reclaim: \(r.reclaimedPages) pages (\(r.dirtyStores) stored, \(r.cleanDrops) clean "
                + "drops), \(r.directReclaims) direct, \(r.secondChances) second chances, "
                + String(format: "%.2f s", Double(r.reclaimNanoseconds) / 1e9)
                + "; store failures \(r.storeFailures), limit overruns \(r.limitOverruns)")
        lines.append("fault service (fault message read to page mapped: UFFDIO_COPY done):")
        lines.append(latency("zero", r.zeroFaultService))
        lines.append(latency("zcache", r.zcacheFaultService))
        lines.append(latency("  of which swap-in (lookup, decompress)", r.zcacheFaultLoad))
        lines.append(latency("  of which UFFDIO_COPY", r.zcacheFaultCopy))
        lines.append(latency("swap cache/device", r.otherFaultService))
        lines.append(latency("then UFFDIO_WAKE (every source)", r.wakeAfterFault))
        lines.append(
            "bare LZ4 decompression of a contents page: median "
                + "\(us(report.bareLZ4DecompressMedianNanoseconds)); zcache fault p50 / that = "
                + String(format: "%.2fx", report.faultToDecompressRatio))
        lines.append(
            "end: \(r.residentPages) mapped (max \(r.residentPagesMax)), \(r.storedPages) stored, "
                + "\(r.cachePageframes) zcache frames, \(r.cacheCompressedBytes) compressed bytes, "
                + "\(report.writtenbackPages) written back; memory \(percent(r.memoryFraction)) "
                + "of the region")
        if let error = r.lastError { lines.append("last error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
