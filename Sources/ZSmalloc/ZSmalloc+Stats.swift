// Statistics: totals and the per-class table of
// /sys/kernel/debug/zsmalloc/<pool>/classes.

extension ZSmalloc {
    /// The counters, each class read under its own lock.
    public var stats: ZSmallocStats {
        var stats = ZSmallocStats()
        for sizeClass in distinctClasses {
            let info = sizeClass.info
            let row: ZSmallocClassStats? = sizeClass.lock.withLock {
                let state = sizeClass.state.pointee
                stats.metadataBytes += state.slotHighWater * MemoryLayout<UInt32>.size
                stats.pagesCompacted += state.pagesCompacted
                guard state.zspages > 0 || state.pagesCompacted > 0 || state.objectsStoredTotal > 0
                else { return nil }
                return ZSmallocClassStats(
                    index: info.index, size: info.size, objectsPerZspage: info.objectsPerZspage,
                    framesPerZspage: info.framesPerZspage, objectsInUse: state.objectsInUse,
                    objectsAllocated: state.zspages * info.objectsPerZspage,
                    zspagesByFullness: (0..<Self.fullnessGroups).map {
                        sizeClass.fullnessCounts[$0]
                    },
                    frames: state.frames,
                    freeableFrames: freeableFrames(of: sizeClass),
                    pagesCompacted: state.pagesCompacted,
                    objectsStoredTotal: state.objectsStoredTotal)
            }
            guard let row else { continue }
            stats.objectsInUse += row.objectsInUse
            if info.isHuge { stats.hugeObjectsInUse += row.objectsInUse }
            stats.classes.append(row)
        }
        stats.framesInUse = framesInUse
        stats.metadataBytes += stats.framesInUse * MemoryLayout<ZspageFrame>.stride
        stats.noMemoryFailures = noMemoryCounter.load(ordering: .relaxed)
        stats.invalidFrees = invalidFreeCounter.load(ordering: .relaxed)
        return stats
    }

    /// Bytes of ZSmalloc's lazily committed metadata (per-frame records and
    /// handle tables) resident now, as the kernel reports them (`mincore`).
    public var metadataResidentBytes: Int {
        frameRecordsRegion.residentBytes() + handleTablesRegion.residentBytes()
    }

    /// The class table as text, one line per class with zspages, like
    /// /sys/kernel/debug/zsmalloc/<pool>/classes.
    public static func describe(_ stats: ZSmallocStats) -> String {
        var lines = [
            " class  size  obj/zspage  frames/zspage  obj_used  obj_allocated  pages_used  freeable  compacted"
        ]
        for row in stats.classes {
            lines.append(
                [
                    pad(row.index, 6), pad(row.size, 5), pad(row.objectsPerZspage, 11),
                    pad(row.framesPerZspage, 14), pad(row.objectsInUse, 9),
                    pad(row.objectsAllocated, 14), pad(row.frames, 11), pad(row.freeableFrames, 9),
                    pad(row.pagesCompacted, 10),
                ].joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
