// Microbenchmark of the ZSmalloc module, run by `zcache-sim microbench zsmalloc`.
//
// 1. Density: every page is LZ4-compressed (all-zero pages, which ZCache
//    stores without a frame, are left out; a page that does not compress to
//    4096 bytes is stored as its 4096 raw bytes, in the huge class); the
//    objects are stored in order. Pool utilization is object bytes / frame
//    bytes; the limit is every object packed without a gap.
// 2. Compaction: free a random half, compact, and compare the frames given
//    back with an ideal repacking of the survivors into their classes.
// 3. Memory really given back: the pool's resident bytes (from the kernel's
//    mincore) full, and after everything is freed and the free frames beyond
//    the pool's reserve are given back (what a shrinker scan does once they
//    have been idle).
// 4. Cost: nanoseconds per store, read and free (the object copy included),
//    and reads by two threads against one.
// 5. The allocator's share of a load: LZ4 decompression of every object
//    read out of the pool (`read`, then LZ4 from the copy) against LZ4 from
//    the same compressed bytes packed in one array, in store order and in a
//    random order, paired per round. No TMem, LRU or ZCache: what packing
//    the objects into zspages costs a load by itself (`zcache-sim bench`'s
//    load / bare includes it).

import Dispatch
import PageFrames
import ZCache
import ZCacheSupport
import ZSmalloc

/// Measures the ZSmalloc module on its own and returns a printable report.
public enum ZSmallocMicrobenchmark {
    public static func run(corpus: [String]) throws -> String {
        let pages =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let objects = CompressedPages(pages: pages, bound: ZSmalloc.maxObjectSize, keepingRaw: true)
        guard !objects.sizes.isEmpty else { return "ZSmalloc microbenchmark: no non-zero pages" }
        let source =
            corpus.isEmpty ? "system binaries and libraries" : corpus.joined(separator: ", ")
        let count = objects.sizes.count
        let objectBytes = objects.sizes.reduce(0, +)
        let limitFrames = (objectBytes + pageSize - 1) / pageSize

        // Density and residency, in one allocator.
        let pool = PageFramePool(frameCount: count + 1024)
        let zs = ZSmalloc(pool: pool)
        let handles = objects.storeAll(in: zs)
        let frames = zs.framesInUse
        let residentFull = pool.residentBytes
        let stats = zs.stats
        var rng = SplitMix64(seed: 0x2B0B)
        var order = Array(0..<count)
        order.shuffle(using: &rng)
        let survivors = Array(order[..<(count / 2)])
        for k in order[(count / 2)...] { zs.free(handles[k]) }
        let beforeCompaction = zs.framesInUse
        let ideal = idealFrames(zs.stats)
        let compactStart = monotonicNanoseconds()
        let freed = zs.compact()
        let compactNanoseconds = monotonicNanoseconds() - compactStart
        let intact = survivors.allSatisfy { objects.matches(zs, handles[$0], $0) }
        for k in survivors { zs.free(handles[k]) }
        // Freed frames stay resident until they have been free for the
        // pool's idle time (`free` and ZCache's shrinker scan then give them
        // back); give back at once what such a scan would give back later.
        pool.releaseFreeFrames()
        let residentEmpty = pool.residentBytes

        var lines: [String] = [
            "ZSmalloc microbenchmark (\(source))",
            "pages: \(pages.count / pageSize), all-zero (no frame): \(objects.zeroPages), "
                + "stored: \(count) (\(objects.rawPages) raw, in the huge class), "
                + "mean object \(objectBytes / count) bytes",
            "",
            "density (classes every 16 bytes, zspages of up to \(ZSmalloc.Configuration().maxFramesPerZspage) frames (the default), 4-byte header):",
            "  frames used:                     \(frames)  (\(format(Double(count) / Double(frames))) pages/frame)",
            "  limit (objects without a gap):   \(limitFrames)",
            "  pool utilization (bytes/frames): \(format(Double(objectBytes) / Double(frames * pageSize)))",
            "  frames vs limit:                 \(format(Double(limitFrames) / Double(frames)))",
            "  metadata bytes per object:       \(format(Double(stats.metadataBytes) / Double(count))) "
                + "(handle table + per-frame zspage records)",
            "  classes used:                    \(stats.classes.count), huge objects: \(stats.hugeObjectsInUse)",
        ]
        // The same objects under other zspage lengths, and without slot borrowing.
        var alternatives: [(name: String, configuration: ZSmalloc.Configuration)] = []
        for maxFrames in [1, 2, 4, 8, 16]
        where maxFrames != ZSmalloc.Configuration().maxFramesPerZspage {
            var configuration = ZSmalloc.Configuration()
            configuration.maxFramesPerZspage = maxFrames
            alternatives.append(("with zspages of up to \(maxFrames) frame(s)", configuration))
        }
        var kernelRule = ZSmalloc.Configuration()
        kernelRule.borrowingReach = 0
        alternatives.append(("without slot borrowing (the kernel's rule)", kernelRule))
        for (name, configuration) in alternatives {
            let other = ZSmalloc(
                pool: PageFramePool(frameCount: count + 1024), configuration: configuration)
            for handle in objects.storeAll(in: other) { _ = handle }
            lines.append(
                "  \(name): \(other.framesInUse) frames, utilization "
                    + format(Double(objectBytes) / Double(other.framesInUse * pageSize)))
        }
        lines += [
            "",
            "compaction after freeing a random half:",
            "  frames before:                   \(beforeCompaction)",
            "  ideal repacking into classes:    \(ideal)  (would free \(beforeCompaction - ideal))",
            "  freed by compact():              \(freed)  "
                + "(\(format(Double(freed) / Double(max(1, beforeCompaction - ideal)))) of ideal, "
                + "\(compactNanoseconds / 1_000_000) ms, survivors intact: \(intact))",
            "",
            "resident frame memory (mincore):",
            "  all stored:                      \(residentFull / 1024) KiB for \(frames) frames",
            "  all freed, then given back:      \(residentEmpty / 1024) KiB "
                + "(a reserve of \(PageFramePool.residentFreeReserve) frames kept), "
                + "given back to the OS: \(pool.framesReturnedToOS) frames",
            "",
            "cost per object (median of 5 runs, object copy included):",
        ]
        for (name, nanoseconds) in Cost.measure(objects) {
            lines.append(
                "  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(nanoseconds)"
            )
        }
        lines += ["", "the allocator's share of a load (LZ4 pages, median of 7 paired rounds):"]
        for (name, value) in DecompressFloor.measure(objects) {
            lines.append("  \(name.padding(toLength: 46, withPad: " ", startingAt: 0)) \(value)")
        }
        return lines.joined(separator: "\n")
    }

    /// Frames an ideal repacking of the objects into the classes they are in
    /// takes (an object that borrowed a slot of a larger class counts there,
    /// as compaction moves objects only within their class).
    static func idealFrames(_ stats: ZSmallocStats) -> Int {
        stats.classes.reduce(0) { total, row in
            // Whole zspages, then one with only the frames its objects reach.
            let full = row.objectsInUse / row.objectsPerZspage * row.framesPerZspage
            return total + full
                + (row.objectsInUse % row.objectsPerZspage * row.size + pageSize - 1) / pageSize
        }
    }

    static func format(_ value: Double) -> String { "\((value * 1000).rounded() / 1000)" }
}

extension CompressedPages {
    func storeAll(in zs: ZSmalloc) -> [ZsHandle] {
        (0..<sizes.count).map { i in
            withObject(i) { data in
                do throws(ZSmallocError) {
                    return try zs.store(data)
                } catch {
                    preconditionFailure("pool sized for one frame per object: \(error)")
                }
            }
        }
    }

    func matches(_ zs: ZSmalloc, _ handle: ZsHandle, _ i: Int) -> Bool {
        var copy = [UInt8](repeating: 0, count: sizes[i])
        let read = copy.withUnsafeMutableBytes { zs.read(handle, size: sizes[i], into: $0) }
        return read && withObject(i) { $0.elementsEqual(copy) }
    }
}

/// Nanoseconds per operation, and the two-thread read rate.
private enum Cost {
    static func measure(_ objects: CompressedPages) -> [(String, String)] {
        var store: [Double] = []
        var read: [Double] = []
        var free: [Double] = []
        var speedup: [Double] = []
        var churn: [Double] = []
        for _ in 0..<5 {
            let run = once(objects)
            store.append(run.store)
            read.append(run.read)
            free.append(run.free)
            speedup.append(run.twoThreadReadSpeedup)
            churn.append(steadyChurn(objects, iterations: 200_000))
        }
        return [
            (
                "store into a fresh pool (page faults)",
                "\(ZSmallocMicrobenchmark.format(median(store))) ns"
            ),
            ("read (copy out, random order)", "\(ZSmallocMicrobenchmark.format(median(read))) ns"),
            (
                "free all (frames go back: madvise)",
                "\(ZSmallocMicrobenchmark.format(median(free))) ns"
            ),
            (
                "churn: free one + store one, all live",
                "\(ZSmallocMicrobenchmark.format(median(churn))) ns"
            ),
            ("reads, 2 threads / 1 thread", "\(ZSmallocMicrobenchmark.format(median(speedup)))x"),
        ]
    }

    private static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// Steady state: every object stored; each step frees a random one and
    /// stores it again (frames come from the pool's resident reserve).
    private static func steadyChurn(_ objects: CompressedPages, iterations: Int) -> Double {
        let count = objects.sizes.count
        let zs = ZSmalloc(pool: PageFramePool(frameCount: count + 1024))
        var handles = objects.storeAll(in: zs)
        var rng = SplitMix64(seed: 5)
        let start = monotonicNanoseconds()
        for _ in 0..<iterations {
            let k = Int(rng.next() % UInt64(count))
            zs.free(handles[k])
            handles[k] = objects.withObject(k) { data in
                do throws(ZSmallocError) {
                    return try zs.store(data)
                } catch {
                    preconditionFailure("pool sized for one frame per object: \(error)")
                }
            }
        }
        return Double(monotonicNanoseconds() - start) / Double(iterations)
    }

    private static func once(_ objects: CompressedPages) -> (
        store: Double, read: Double, free: Double, twoThreadReadSpeedup: Double
    ) {
        let count = objects.sizes.count
        let pool = PageFramePool(frameCount: count + 1024)
        let zs = ZSmalloc(pool: pool)
        var start = monotonicNanoseconds()
        let handles = objects.storeAll(in: zs)
        let store = Double(monotonicNanoseconds() - start) / Double(count)

        var order = Array(0..<count)
        var rng = SplitMix64(seed: 99)
        order.shuffle(using: &rng)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { buffer.deallocate() }
        start = monotonicNanoseconds()
        for i in order where !zs.read(handles[i], size: objects.sizes[i], into: buffer) {
            preconditionFailure("a stored object did not read")
        }
        let read = Double(monotonicNanoseconds() - start) / Double(count)

        // The same reads split over two threads, each with its own buffer.
        let sizes = objects.sizes
        let readOrder = order
        start = monotonicNanoseconds()
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            let own = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
            defer { own.deallocate() }
            for k in stride(from: half, to: count, by: 2) {
                let i = readOrder[k]
                _ = zs.read(handles[i], size: sizes[i], into: own)
            }
        }
        let twoThreads = Double(monotonicNanoseconds() - start) / Double(count)

        start = monotonicNanoseconds()
        for i in order { zs.free(handles[i]) }
        let free = Double(monotonicNanoseconds() - start) / Double(count)
        return (store, read, free, read / twoThreads)
    }
}

/// Section 5: reads that feed LZ4, against LZ4 from a packed array.
private enum DecompressFloor {
    static func measure(_ objects: CompressedPages) -> [(String, String)] {
        // Compressed objects only (raw huge-class pages are not LZ4 input).
        let indexes = objects.sizes.indices.filter { objects.sizes[$0] < pageSize }
        guard !indexes.isEmpty else { return [("no LZ4 objects", "")] }
        let zs = ZSmalloc(pool: PageFramePool(frameCount: objects.sizes.count + 1024))
        let handles = objects.storeAll(in: zs)
        let codec = Compressor(.lz4)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer {
            scratch.deallocate()
            output.deallocate()
        }
        var random = indexes
        var rng = SplitMix64(seed: 0xF100)
        random.shuffle(using: &rng)
        var rows: [(String, String)] = []
        for (name, order) in [("store order", indexes), ("random order", random)] {
            var ratios: [Double] = []
            var failures = 0
            for _ in 0..<7 {
                var start = monotonicNanoseconds()
                for i in order {
                    objects.withObject(i) {
                        if (try? codec.decompress($0, into: output)) == nil { failures += 1 }
                    }
                }
                let bare = Double(monotonicNanoseconds() - start)
                start = monotonicNanoseconds()
                for i in order {
                    let size = objects.sizes[i]
                    guard zs.read(handles[i], size: size, into: scratch),
                        (try? codec.decompress(
                            UnsafeRawBufferPointer(rebasing: scratch[..<size]), into: output))
                            != nil
                    else {
                        failures += 1
                        continue
                    }
                }
                let pooled = Double(monotonicNanoseconds() - start)
                ratios.append(bare / max(pooled, 1))
            }
            rows.append(
                (
                    "read + LZ4 / LZ4 from the array, \(name)",
                    failures == 0
                        ? ZSmallocMicrobenchmark.format(ratios.sorted()[ratios.count / 2])
                        : "\(failures) objects failed to read or decompress"
                ))
        }
        return rows
    }
}
