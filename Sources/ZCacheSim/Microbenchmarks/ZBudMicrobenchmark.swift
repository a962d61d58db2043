// Microbenchmark of the ZBud module, run by `zcache-sim microbench zbud`.
//
// 1. Packing quality: every page is LZ4-compressed (all-zero pages, which
//    ZCache stores without a frame, and pages over 4000 bytes, which it
//    refuses, are left out); the zpages go through match-or-create in order,
//    as puts would, and the frames used are compared with the offline optimum
//    for two buds per frame: sort the chunk counts and pair each largest with
//    the largest that still fits (optimal for pairs under a capacity).
// 2. Cost: nanoseconds per allocate+free of a bud, the zpage copy included:
//    the pool alone, a bud in a fresh frame, and steady churn over a working
//    set where most creates match an existing frame.

import ZBud
import ZCache
import ZCacheSupport

/// Measures the ZBud module on its own and returns a printable report.
public enum ZBudMicrobenchmark {
    public static func run(corpus: [String]) throws -> String {
        let pages =
            corpus.isEmpty ? BenchmarkPages.systemPages() : try BenchmarkPages.load(corpus: corpus)
        let zpages = CompressedPages(pages: pages, bound: ZBud.maxZPageSize, keepingRaw: false)
        guard !zpages.sizes.isEmpty else { return "ZBud microbenchmark: no compressible pages" }
        let packing = Packing(zpages)
        let source =
            corpus.isEmpty ? "system binaries and libraries" : corpus.joined(separator: ", ")
        var lines = [
            "ZBud microbenchmark (\(source))",
            "pages: \(pages.count / pageSize), all-zero (no frame): \(zpages.zeroPages), "
                + "over \(ZBud.maxZPageSize) bytes (refused): \(zpages.poorPages), "
                + "stored: \(zpages.sizes.count), mean zsize \(zpages.sizes.reduce(0, +) / zpages.sizes.count) bytes",
            "",
            "packing (two buds per frame, 64-byte chunks, 32-byte owner per bud):",
            "  frames used, online in order:  \(packing.onlineFrames)  "
                + "(\(format(Double(zpages.sizes.count) / Double(packing.onlineFrames))) zpages/frame, "
                + "buddied \(packing.buddied), unbuddied \(packing.unbuddied))",
            "  offline optimum:               \(packing.optimalFrames)",
            "  quality (optimum / used):      \(format(Double(packing.optimalFrames) / Double(packing.onlineFrames)))",
            "  lower bound max(n/2, chunks/64): \(packing.lowerBound)",
            "  stored bytes / frame bytes:    "
                + "\(format(Double(zpages.sizes.reduce(0, +)) / Double(packing.onlineFrames * pageSize)))",
            "",
            "cost per bud, allocate + free (best of 5 runs, zpage copy included):",
        ]
        for (name, nanoseconds) in Cost.measure(zpages) {
            lines.append(
                "  \(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(format(nanoseconds)) ns"
            )
        }
        return lines.joined(separator: "\n")
    }

    private static func format(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return "\(scaled)"
    }
}

/// Online (ZBud, in order) against offline (optimal pairing) frame counts.
private struct Packing {
    var onlineFrames = 0
    var buddied = 0
    var unbuddied = 0
    var optimalFrames = 0
    var lowerBound = 0

    init(_ zpages: CompressedPages) {
        let count = zpages.sizes.count
        let pool = PageFramePool(frameCount: count)
        let zbud = ZBud(class: .persistent, frameCount: count)
        for i in 0..<count {
            let owner = BudOwner(w0: UInt64(i), w1: 0, w2: 0, w3: 0)
            let ref = zpages.withObject(i) { data -> ZBudRef in
                if let ref = zbud.createInMatchingFrame(owner: owner, data: data) { return ref }
                guard let frame = pool.allocate() else {
                    preconditionFailure("pool sized for one frame per zpage")
                }
                return zbud.createInNewFrame(
                    frame, address: pool.address(of: frame), owner: owner, data: data)
            }
            zbud.finishCreate(ref)
        }
        let stats = zbud.stats
        onlineFrames = stats.pageframes
        buddied = stats.buddiedCount
        unbuddied = stats.unbuddiedCount

        var chunkCounts = [Int](repeating: 0, count: ZBud.chunksPerFrame + 1)
        var totalChunks = 0
        for size in zpages.sizes {
            let chunks = ZBud.chunks(forDataSize: size) ?? ZBud.chunksPerFrame
            chunkCounts[chunks] += 1
            totalChunks += chunks
        }
        lowerBound = max(
            (count + 1) / 2, (totalChunks + ZBud.chunksPerFrame - 1) / ZBud.chunksPerFrame)
        // Largest first, each paired with the largest remaining that still fits.
        for large in stride(from: ZBud.maxBudChunks, through: 1, by: -1) {
            while chunkCounts[large] > 0 {
                chunkCounts[large] -= 1
                optimalFrames += 1
                var partner = min(large, ZBud.chunksPerFrame - large)
                while partner > 0 && chunkCounts[partner] == 0 { partner -= 1 }
                if partner > 0 { chunkCounts[partner] -= 1 }
            }
        }
    }
}

/// Nanoseconds per allocate+free.
private enum Cost {
    static func measure(_ zpages: CompressedPages) -> [(String, Double)] {
        [
            ("pool: allocate + free a frame", best { poolOnly(iterations: 2_000_000) }),
            (
                "zbud: bud in a new frame, finish, free",
                best { newFrame(zpages, iterations: 1_000_000) }
            ),
            (
                "zbud: churn over 4096 live buds (matching)",
                best { churn(zpages, iterations: 1_000_000) }
            ),
            (
                "baseline: the churn's zpage copies alone",
                best { copyOnly(zpages, iterations: 1_000_000) }
            ),
        ]
    }

    private static func best(_ run: () -> Double) -> Double {
        (0..<5).map { _ in run() }.min() ?? 0
    }

    private static func poolOnly(iterations: Int) -> Double {
        let pool = PageFramePool(frameCount: 64)
        let start = monotonicNanoseconds()
        for _ in 0..<iterations {
            guard let frame = pool.allocate() else { preconditionFailure("pool exhausted") }
            pool.free(frame)
        }
        return Double(monotonicNanoseconds() - start) / Double(iterations)
    }

    private static func newFrame(_ zpages: CompressedPages, iterations: Int) -> Double {
        let pool = PageFramePool(frameCount: 64)
        let zbud = ZBud(class: .ephemeral, frameCount: 64)
        let count = zpages.sizes.count
        let owner = BudOwner(w0: 1, w1: 2, w2: 3, w3: 4)
        return zpages.bytes.withUnsafeBytes { bytes in
            let start = monotonicNanoseconds()
            for i in 0..<iterations {
                let k = i % count
                let data = UnsafeRawBufferPointer(
                    rebasing: bytes[zpages.offsets[k]..<zpages.offsets[k] + zpages.sizes[k]])
                guard let frame = pool.allocate() else { preconditionFailure("pool exhausted") }
                let ref = zbud.createInNewFrame(
                    frame, address: pool.address(of: frame), owner: owner, data: data)
                zbud.finishCreate(ref)
                if let empty = zbud.free(ref) { pool.free(empty) }
            }
            return Double(monotonicNanoseconds() - start) / Double(iterations)
        }
    }

    /// A working set of 4096 buds; each step frees a pseudo-randomly chosen one
    /// and stores the next zpage in its place (match, else a new frame).
    private static func churn(_ zpages: CompressedPages, iterations: Int) -> Double {
        let live = 4096
        let pool = PageFramePool(frameCount: live + 64)
        let zbud = ZBud(class: .ephemeral, frameCount: live + 64)
        let count = zpages.sizes.count
        let owner = BudOwner(w0: 1, w1: 2, w2: 3, w3: 4)
        return zpages.bytes.withUnsafeBytes { bytes in
            func store(_ i: Int) -> ZBudRef {
                let k = i % count
                let data = UnsafeRawBufferPointer(
                    rebasing: bytes[zpages.offsets[k]..<zpages.offsets[k] + zpages.sizes[k]])
                let ref: ZBudRef
                if let matched = zbud.createInMatchingFrame(owner: owner, data: data) {
                    ref = matched
                } else {
                    guard let frame = pool.allocate() else { preconditionFailure("pool exhausted") }
                    ref = zbud.createInNewFrame(
                        frame, address: pool.address(of: frame), owner: owner, data: data)
                }
                zbud.finishCreate(ref)
                return ref
            }
            var refs = (0..<live).map { store($0) }
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            let start = monotonicNanoseconds()
            for i in 0..<iterations {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let slot = Int(state >> 33) % live
                if let empty = zbud.free(refs[slot]) { pool.free(empty) }
                refs[slot] = store(live + i)
            }
            return Double(monotonicNanoseconds() - start) / Double(iterations)
        }
    }

    /// The memory traffic of `churn` without ZBud: copy each zpage into the
    /// frame of the slot it replaces.
    private static func copyOnly(_ zpages: CompressedPages, iterations: Int) -> Double {
        let live = 4096
        let pool = PageFramePool(frameCount: live)
        let frames = (0..<live).map { _ in pool.address(of: pool.allocate()!) }
        let count = zpages.sizes.count
        return zpages.bytes.withUnsafeBytes { bytes in
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            let start = monotonicNanoseconds()
            for i in 0..<iterations {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let slot = Int(state >> 33) % live
                let k = (live + i) % count
                frames[slot].copyMemory(
                    from: bytes.baseAddress! + zpages.offsets[k], byteCount: zpages.sizes[k])
            }
            return Double(monotonicNanoseconds() - start) / Double(iterations)
        }
    }
}
