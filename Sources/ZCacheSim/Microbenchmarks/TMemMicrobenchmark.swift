// Microbenchmark of the TMem module, run by `zcache-sim microbench tmem`.
//
// Put, get and flush cost per operation with a trivial storage side (handles
// are numbers, `free` counts), single-threaded, for two key patterns:
// - dense: one object, indexes 0..<100k in order (a file read through);
// - sparse: frontswap's swizzled keys for random swap offsets,
//   oid.a = (type << 8) | (offset & 0xff), index = offset >> 8.

import Foundation
import Synchronization
import TMem
import ZCacheSupport

/// Measures the TMem module on its own and returns a printable report.
public enum TMemMicrobenchmark {
    static let keysPerPattern = 100_000
    static let rounds = 5

    public static func run(corpus: [String]) throws -> String {
        var generator = Generator(seed: 0x746D_656D)
        let dense = (0..<keysPerPattern).map { (ObjectID(1), UInt32($0)) }
        // Distinct random offsets on two swap types of 2^20 slots (4 GiB) each.
        var offsets = Set<UInt64>()
        while offsets.count < keysPerPattern {
            offsets.insert(UInt64.random(in: 0..<(2 << 20), using: &generator))
        }
        let sparse = offsets.shuffled(using: &generator).map { slot -> (ObjectID, UInt32) in
            let type = slot >> 20
            let offset = slot & ((1 << 20) - 1)
            return (ObjectID((type << 8) | (offset & 0xff)), UInt32(offset >> 8))
        }

        var lines = [
            "TMem microbenchmark: \(keysPerPattern) keys per pattern, trivial storage side,",
            "one thread, median of \(rounds) rounds, ns of thread CPU time per operation",
            "",
            "pattern   put(new)  put(replace)  get(keep)  get(remove)  flush(hit)  flush(miss)",
        ]
        for (name, keys) in [("dense", dense), ("sparse", sparse)] {
            var samples: [[Double]] = []
            for _ in 0..<rounds { samples.append(try measure(keys)) }
            let medians = (0..<samples[0].count).map { column in
                samples.map { $0[column] }.sorted()[rounds / 2]
            }
            lines.append(
                name.padding(toLength: 8, withPad: " ", startingAt: 0)
                    + zip(medians, [10, 14, 11, 13, 12, 13]).map { value, width in
                        String(format: "%.1f", value).leftPadded(width)
                    }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// One round on a fresh store; returns ns/op for each column of the report.
    private static func measure(_ keys: [(ObjectID, UInt32)]) throws -> [Double] {
        let storage = TrivialStorage()
        var configuration = TMem<TrivialStorage>.Configuration()
        configuration.exclusiveGets = false  // so get(keep) can run; get(remove) forces removal
        let tmem = TMem(storage: storage, configuration: configuration)
        let pool = try tmem.newPool(client: tmem.newClient(), kind: .persistent)
        let tmemKeys = keys.map { TMemKey(pool: pool, object: $0.0, index: $0.1) }
        var checksum: UInt64 = 0

        let putNew = try time(tmemKeys.count) {
            for (n, key) in tmemKeys.enumerated() { try tmem.put(key, handle: UInt64(n) + 1) }
        }
        let putReplace = try time(tmemKeys.count) {
            for (n, key) in tmemKeys.enumerated() {
                try tmem.put(key, handle: UInt64(n) + 1_000_000)
            }
        }
        let getKeep = try time(tmemKeys.count) {
            for key in tmemKeys { checksum &+= try tmem.get(key) { handle, _ in handle } ?? 0 }
        }
        let getRemove = try time(tmemKeys.count) {
            for key in tmemKeys {
                checksum &+= try tmem.get(key, forceRemove: true) { handle, _ in handle } ?? 0
            }
        }
        for (n, key) in tmemKeys.enumerated() { try tmem.put(key, handle: UInt64(n) + 1) }
        var found = 0
        let flushHit = try time(tmemKeys.count) {
            for key in tmemKeys { if try tmem.flushPage(key) { found += 1 } }
        }
        let flushMiss = try time(tmemKeys.count) {
            for key in tmemKeys { if try tmem.flushPage(key) { found += 1 } }
        }

        // The figures only count if the store did what was asked.
        let n = tmemKeys.count
        let expectedSum = (0..<UInt64(n)).reduce(UInt64(0)) { $0 &+ $1 &+ 1_000_000 } &* 2
        guard checksum == expectedSum, found == n, storage.freed.load(ordering: .relaxed) == 2 * n,
            tmem.stats.pagesStored == 0
        else { throw SelfCheckFailed(what: "TMem returned unexpected handles") }
        return [putNew, putReplace, getKeep, getRemove, flushHit, flushMiss]
    }

    /// Nanoseconds per operation of `body`, in this thread's CPU time (so other
    /// processes on a shared machine inflate it less than wall time would).
    private static func time(_ operations: Int, _ body: () throws -> Void) rethrows -> Double {
        let start = CPUTime.thread()
        try body()
        return (CPUTime.thread() - start) * 1e9 / Double(operations)
    }

    /// The storage side of the benchmark: handles are numbers; `free` only counts.
    final class TrivialStorage: TMemStorage {
        typealias Handle = UInt64
        let freed = Atomic<Int>(0)
        func free(_ handle: UInt64, key: TMemKey) { freed.add(1, ordering: .relaxed) }
    }

    struct SelfCheckFailed: Error, CustomStringConvertible {
        var what: String
        var description: String { "TMem microbenchmark self-check failed: \(what)" }
    }

    /// A seeded generator, so the key sets are the same on every run.
    typealias Generator = SplitMix64
}
