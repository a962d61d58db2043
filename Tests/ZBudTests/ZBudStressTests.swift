import Dispatch
import Synchronization
import XCTest
import ZCacheSupport

@testable import ZBud

/// Two threads storing, reading, replacing and deleting pages through a small
/// tmem stand-in (one bucket lock, as ZCache holds around copyOut and free)
/// while frames run out, so eviction and zombie writeback run concurrently
/// with everything else. Run under `swift test --sanitize=thread`.
final class ZBudStressTests: XCTestCase {
    /// What a key maps to in the tmem stand-in.
    struct Entry {
        var budClass: ZBudClass
        var ref: ZBudRef
        var version: UInt64
    }

    /// tmem's side: key -> entry, under one lock.
    final class StressTMem: @unchecked Sendable {
        let lock = Lock()
        private var entries: [UInt64: Entry] = [:]

        /// Runs `body` on the table with the bucket lock held.
        func withEntries<T>(_ body: (inout [UInt64: Entry]) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&entries)
        }
    }

    static func content(key: UInt64, version: UInt64) -> [UInt8] {
        let seed = key &* 7919 &+ version
        return zpageBytes(seed: seed, count: Int((seed &* 2_654_435_761) % 4001))
    }

    func testTwoThreadsWithEvictionAndWriteback() {
        let harness = ZBudHarness(frames: 12)
        let tmem = StressTMem()
        let mismatches = Atomic<Int>(0)
        let evictions = Atomic<Int>(0)
        let writebacks = Atomic<Int>(0)
        let operationsPerThread = 15_000

        DispatchQueue.concurrentPerform(iterations: 2) { thread in
            var rng = SplitMix64(seed: UInt64(thread + 1))
            var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
            var version: UInt64 = 0

            func check(_ entry: Entry, key: UInt64, size: Int?) {
                guard let size else { return }  // dying: the evictor is flushing it
                let expected = Self.content(key: key, version: entry.version)
                if size != expected.count || !buffer[0..<size].elementsEqual(expected) {
                    mismatches.add(1, ordering: .relaxed)
                }
            }

            /// Deletes `key` (a tmem flush): free its bud, return an emptied frame.
            func delete(_ key: UInt64) {
                let frame: PageFrameNumber? = tmem.withEntries { entries in
                    guard let entry = entries.removeValue(forKey: key) else { return nil }
                    return harness.zbud(entry.budClass).free(entry.ref)
                }
                if let frame { harness.pool.free(frame) }
            }

            /// A frame for a new bud: the pool, else evict (ephemeral) or write
            /// back a zombie frame (persistent) and retry.
            func newFrame(_ budClass: ZBudClass) -> PageFrameNumber? {
                if let frame = harness.pool.allocate() { return frame }
                if budClass == .ephemeral {
                    let frame = harness.ephemeral.evictLRU { owner, ref in
                        // tmem's flush: only a page it still holds is freed.
                        tmem.withEntries { entries in
                            guard entries[owner.w0]?.ref == ref else { return }
                            entries[owner.w0] = nil
                            if harness.ephemeral.free(ref) != nil {
                                mismatches.add(1, ordering: .relaxed)
                            }
                        }
                    }
                    if frame != nil { evictions.add(1, ordering: .relaxed) }
                    return frame
                }
                for (owner, ref) in harness.persistent.zombifyLRU() {
                    // Writeback: load exclusively (read, then free) if still current.
                    let frame: PageFrameNumber? = tmem.withEntries { entries in
                        guard let entry = entries[owner.w0], entry.ref == ref else { return nil }
                        entries[owner.w0] = nil
                        let size = buffer.withUnsafeMutableBytes {
                            harness.persistent.copyOut(ref, into: $0)
                        }
                        // Zombies stay readable.
                        if size == nil { mismatches.add(1, ordering: .relaxed) }
                        check(entry, key: owner.w0, size: size)
                        return harness.persistent.free(ref)
                    }
                    if let frame { harness.pool.free(frame) }
                    writebacks.add(1, ordering: .relaxed)
                }
                return harness.pool.allocate()
            }

            for _ in 0..<operationsPerThread {
                let key = UInt64(thread) << 32 | UInt64.random(in: 0..<48, using: &rng)
                let budClass: ZBudClass = key & 1 == 0 ? .ephemeral : .persistent
                let zbud = harness.zbud(budClass)
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<5:  // put: flush the old page, store the new one
                    delete(key)
                    version += 1
                    let data = Self.content(key: key, version: version)
                    let owner = testOwner(key, version: version)
                    var ref = data.withUnsafeBytes {
                        zbud.createInMatchingFrame(owner: owner, data: $0)
                    }
                    if ref == nil, let frame = newFrame(budClass) {
                        ref = data.withUnsafeBytes {
                            zbud.createInNewFrame(
                                frame, address: harness.pool.address(of: frame), owner: owner,
                                data: $0)
                        }
                    }
                    guard let ref else { continue }
                    tmem.withEntries {
                        $0[key] = Entry(budClass: budClass, ref: ref, version: version)
                    }
                    zbud.finishCreate(ref)
                case 5..<8:  // get: copy out under the bucket lock, check outside it
                    let read: (Entry, Int?)? = tmem.withEntries { entries in
                        guard let entry = entries[key] else { return nil }
                        return (
                            entry,
                            buffer.withUnsafeMutableBytes { zbud.copyOut(entry.ref, into: $0) }
                        )
                    }
                    if let (entry, size) = read { check(entry, key: key, size: size) }
                case 8:
                    delete(key)
                default:  // pressure from elsewhere: the shrinker
                    if budClass == .ephemeral, let frame = newFrame(.ephemeral) {
                        harness.pool.free(frame)
                    }
                }
            }
        }

        XCTAssertEqual(mismatches.load(ordering: .relaxed), 0, "a read returned wrong data")
        XCTAssertGreaterThan(evictions.load(ordering: .relaxed), 100)
        XCTAssertGreaterThan(writebacks.load(ordering: .relaxed), 100)
        harness.checkAccounting()
        // Every remaining page reads back, and deleting everything returns every frame.
        let remaining = tmem.withEntries { $0 }
        var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
        for (key, entry) in remaining {
            let size = buffer.withUnsafeMutableBytes {
                harness.zbud(entry.budClass).copyOut(entry.ref, into: $0)
            }
            XCTAssertEqual(
                size.map { Array(buffer[0..<$0]) }, Self.content(key: key, version: entry.version))
            if let frame = harness.zbud(entry.budClass).free(entry.ref) { harness.pool.free(frame) }
        }
        harness.checkAccounting()
        XCTAssertEqual(harness.pool.framesInUse, 0)
    }
}
