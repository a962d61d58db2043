import XCTest
import ZCacheSupport

@testable import ZBud

/// Random create / finish / free / read / evict / zombify sequences on both
/// classes sharing one pool, checked against a plain reference model of the
/// design's rules after every operation, with every invariant checked too.
final class ZBudModelTests: XCTestCase {
    func testRandomOperationsAgainstAModel() {
        var run = ModelRun(frames: 24, seed: 0x5EED)
        run.run(operations: 200_000)
        XCTAssertGreaterThan(run.counts["evict", default: 0], 1000)
        XCTAssertGreaterThan(run.counts["zombify", default: 0], 1000)
        XCTAssertGreaterThan(run.counts["match", default: 0], 10000)
    }

    func testSmallPoolUnderPressure() {
        var run = ModelRun(frames: 3, seed: 42)
        run.run(operations: 20_000)
        XCTAssertGreaterThan(run.counts["evict", default: 0], 100)
    }
}

/// The reference model: what the design says each frame holds and where it stands.
private struct ModelBud {
    var id: UInt64
    var size: Int
    var busy: Bool
    var chunks: Int { (size + 32 + 63) / 64 }
}

private struct ModelFrame {
    var bud0: ModelBud? = nil
    var bud1: ModelBud? = nil
    var zombie = false
    /// When a bud was last added (the LRU order).
    var lruStamp = 0
    /// When it entered its current unbuddied list (the order within a list).
    var unbuddiedStamp = 0

    subscript(bud: Int) -> ModelBud? {
        get { bud == 0 ? bud0 : bud1 }
        set { if bud == 0 { bud0 = newValue } else { bud1 = newValue } }
    }
    var budCount: Int { (bud0 == nil ? 0 : 1) + (bud1 == nil ? 0 : 1) }
    var busy: Bool { bud0?.busy == true || bud1?.busy == true }
    var present: [Int] { (0..<2).filter { self[$0] != nil } }
}

private final class ModelClass {
    /// By frame number; nil when the class does not hold the frame.
    var frames: [ModelFrame?]
    var cumulZpages = 0
    var cumulZbytes = 0
    var evictedPageframes = 0

    init(frameCount: Int) { frames = Array(repeating: nil, count: frameCount) }

    var expectedStats: ZBudStats {
        var s = ZBudStats()
        s.cumulZpages = cumulZpages
        s.cumulZbytes = cumulZbytes
        s.evictedPageframes = evictedPageframes
        for case let frame? in frames {
            s.pageframes += 1
            for case let bud? in [frame.bud0, frame.bud1] {
                s.zpages += 1
                s.zbytes += bud.size + 32
            }
            if frame.budCount == 2 { s.buddiedCount += 1 } else { s.unbuddiedCount += 1 }
            if frame.zombie { s.zombieCount += 1 }
        }
        return s
    }

    /// The design's match: fullest unbuddied frame that still fits, oldest first.
    func matchCandidate(chunks: Int) -> PageFrameNumber? {
        var best: (used: Int, stamp: Int, frame: Int)? = nil
        for (number, frame) in frames.enumerated() {
            guard let frame, !frame.zombie, frame.budCount == 1 else { continue }
            let used = (frame.bud0 ?? frame.bud1)!.chunks
            guard used + chunks <= 64 else { continue }
            if best == nil || used > best!.used
                || (used == best!.used && frame.unbuddiedStamp < best!.stamp)
            {
                best = (used, frame.unbuddiedStamp, number)
            }
        }
        return best.map { PageFrameNumber(rawValue: UInt32($0.frame)) }
    }

    /// The LRU frame that is not busy and not a zombie.
    func lruCandidate() -> PageFrameNumber? {
        var best: (stamp: Int, frame: Int)? = nil
        for (number, frame) in frames.enumerated() {
            guard let frame, !frame.zombie, !frame.busy else { continue }
            if best == nil || frame.lruStamp < best!.stamp { best = (frame.lruStamp, number) }
        }
        return best.map { PageFrameNumber(rawValue: UInt32($0.frame)) }
    }

    subscript(frame: PageFrameNumber) -> ModelFrame? {
        get { frames[Int(frame.rawValue)] }
        set { frames[Int(frame.rawValue)] = newValue }
    }
}

private struct ModelRun {
    let harness: ZBudHarness
    var rng: SplitMix64
    let models: [ZBudClass: ModelClass]
    /// Every stored bud, for picking one at random.
    var live: [(ZBudClass, ZBudRef)] = []
    var pending: [(ZBudClass, ZBudRef)] = []
    var clock = 0
    var nextID: UInt64 = 1
    var counts: [String: Int] = [:]

    init(frames: Int, seed: UInt64) {
        harness = ZBudHarness(frames: frames)
        rng = SplitMix64(seed: seed)
        models = [
            .ephemeral: ModelClass(frameCount: frames), .persistent: ModelClass(frameCount: frames),
        ]
    }

    /// Compressed sizes shaped like LZ4 on heap pages: some nearly empty, most
    /// between a few hundred bytes and 3 KB, a tail up to the 4000-byte limit.
    mutating func drawSize() -> Int {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<10: Int.random(in: 0...100, using: &rng)
        case 10..<45: Int.random(in: 100...1500, using: &rng)
        case 45..<80: Int.random(in: 1500...3000, using: &rng)
        default: Int.random(in: 3000...4000, using: &rng)
        }
    }

    mutating func run(operations: Int) {
        for _ in 0..<operations {
            clock += 1
            let budClass: ZBudClass = Bool.random(using: &rng) ? .ephemeral : .persistent
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<42: create(budClass)
            case 42..<50: finish()
            case 50..<80: free()
            case 80..<90: read()
            case 90..<95: evictAndFree()
            default: zombify()
            }
            check()
        }
    }

    mutating func create(_ budClass: ZBudClass) {
        let zbud = harness.zbud(budClass)
        let size = drawSize()
        let id = nextID
        nextID += 1
        let data = zpageBytes(seed: id, count: size)
        let bud = ModelBud(id: id, size: size, busy: true)
        let expected = models[budClass]!.matchCandidate(chunks: bud.chunks)
        let matched = data.withUnsafeBytes {
            zbud.createInMatchingFrame(owner: testOwner(id), data: $0)
        }
        XCTAssertEqual(matched?.frame, expected, "match for \(bud.chunks) chunks")
        var ref: ZBudRef
        if let matched, let frame = expected {
            var model = models[budClass]![frame]!
            XCTAssertNil(model[matched.bud], "matched into an occupied bud")
            model[matched.bud] = bud
            model.lruStamp = clock
            models[budClass]![frame] = model
            ref = matched
            counts["match", default: 0] += 1
        } else {
            var frame = harness.pool.allocate()
            if frame == nil, budClass == .ephemeral {
                frame = evictLRUFrame()  // eph_ate_tail: reuse the evicted frame
            }
            guard let frame else { return }
            ref = data.withUnsafeBytes {
                zbud.createInNewFrame(
                    frame, address: harness.pool.address(of: frame), owner: testOwner(id), data: $0)
            }
            XCTAssertEqual(ref, ZBudRef(frame: frame, bud: 0))
            models[budClass]![frame] = ModelFrame(bud0: bud, lruStamp: clock, unbuddiedStamp: clock)
        }
        models[budClass]!.cumulZpages += 1
        models[budClass]!.cumulZbytes += size + 32
        live.append((budClass, ref))
        if Int.random(in: 0..<5, using: &rng) == 0 {
            pending.append((budClass, ref))
        } else {
            finish(budClass, ref)
        }
    }

    mutating func finish(_ budClass: ZBudClass, _ ref: ZBudRef) {
        harness.zbud(budClass).finishCreate(ref)
        models[budClass]![ref.frame]![ref.bud]!.busy = false
    }

    mutating func finish() {
        guard !pending.isEmpty else { return }
        let (budClass, ref) = pending.remove(at: Int.random(in: 0..<pending.count, using: &rng))
        finish(budClass, ref)
    }

    mutating func free() {
        guard !live.isEmpty else { return }
        let (budClass, ref) = live.remove(at: Int.random(in: 0..<live.count, using: &rng))
        pending.removeAll { $0.0 == budClass && $0.1 == ref }  // an abandoned create
        var frame = models[budClass]![ref.frame]!
        frame[ref.bud] = nil
        let returned = harness.zbud(budClass).free(ref)
        if frame.budCount == 0 {
            XCTAssertEqual(returned, ref.frame, "the last free returns the frame")
            if frame.zombie { models[budClass]!.evictedPageframes += 1 }
            models[budClass]![ref.frame] = nil
            if let returned { harness.pool.free(returned) }
        } else {
            XCTAssertNil(returned)
            frame.unbuddiedStamp = clock
            models[budClass]![ref.frame] = frame
        }
        counts["free", default: 0] += 1
    }

    mutating func read() {
        guard !live.isEmpty else { return }
        let (budClass, ref) = live[Int.random(in: 0..<live.count, using: &rng)]
        let bud = models[budClass]![ref.frame]![ref.bud]!
        XCTAssertEqual(harness.read(budClass, ref), zpageBytes(seed: bud.id, count: bud.size))
        XCTAssertEqual(harness.zbud(budClass).owner(of: ref), testOwner(bud.id))
    }

    /// Evicts the LRU ephemeral frame and returns it to the caller, who owns it.
    mutating func evictLRUFrame() -> PageFrameNumber? {
        let expected = models[.ephemeral]!.lruCandidate()
        let zbud = harness.ephemeral
        var flushed: [ZBudRef] = []
        let frame = zbud.evictLRU { owner, ref in
            flushed.append(ref)
            XCTAssertNil(zbud.free(ref), "a free in a dying frame releases nothing")
        }
        XCTAssertEqual(frame, expected, "eviction takes the LRU frame that is not busy")
        guard let frame else { return nil }
        let model = models[.ephemeral]![frame]!
        models[.ephemeral]![frame] = nil
        XCTAssertEqual(flushed, model.present.map { ZBudRef(frame: frame, bud: $0) })
        live.removeAll { $0.0 == .ephemeral && $0.1.frame == frame }
        models[.ephemeral]!.evictedPageframes += 1
        counts["evict", default: 0] += 1
        return frame
    }

    mutating func evictAndFree() {
        if let frame = evictLRUFrame() { harness.pool.free(frame) }
    }

    mutating func zombify() {
        let expected = models[.persistent]!.lruCandidate()
        let buds = harness.persistent.zombifyLRU()
        XCTAssertEqual(
            buds.first?.ref.frame, expected, "zombify takes the LRU frame that is not busy")
        guard let frame = expected else { return }
        let model = models[.persistent]![frame]!
        let present = model.present
        XCTAssertEqual(buds.map(\.ref), present.map { ZBudRef(frame: frame, bud: $0) })
        XCTAssertEqual(buds.map(\.owner), present.map { testOwner(model[$0]!.id) })
        models[.persistent]![frame]!.zombie = true
        counts["zombify", default: 0] += 1
    }

    func check() {
        XCTAssertEqual(harness.ephemeral.stats, models[.ephemeral]!.expectedStats)
        XCTAssertEqual(harness.persistent.stats, models[.persistent]!.expectedStats)
        harness.checkAccounting()
    }
}
