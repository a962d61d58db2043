import XCTest
import ZCacheSupport

@testable import ZBud

/// Data bytes for a zpage: a pattern that depends on `seed` at every offset,
/// so a bud read back from the wrong place or frame does not match.
func zpageBytes(seed: UInt64, count: Int) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

/// The owner handle the tests store for `id`.
func testOwner(_ id: UInt64, version: UInt64 = 0) -> BudOwner {
    BudOwner(w0: id, w1: version, w2: ~id, w3: 0xC0FF_EE00 | version)
}

/// The data size whose bud (owner included) takes exactly `chunks` chunks.
func dataSize(chunks: Int) -> Int { chunks * 64 - 32 }

/// A pool with one ZBud per class, doing what ZCache does with them: match,
/// else take a frame from the pool; hand emptied frames back to the pool.
final class ZBudHarness {
    let pool: PageFramePool
    let ephemeral: ZBud
    let persistent: ZBud

    init(frames: Int) {
        pool = PageFramePool(frameCount: frames)
        ephemeral = ZBud(class: .ephemeral, frameCount: frames)
        persistent = ZBud(class: .persistent, frameCount: frames)
    }

    func zbud(_ budClass: ZBudClass) -> ZBud { budClass == .ephemeral ? ephemeral : persistent }

    /// Stores `data` (match, else a new frame); nil when there is no frame.
    /// The create is finished unless `finish` is false.
    func store(
        _ budClass: ZBudClass, owner: BudOwner, data: [UInt8], finish: Bool = true
    ) -> ZBudRef? {
        let zbud = zbud(budClass)
        let ref: ZBudRef? = data.withUnsafeBytes { bytes in
            if let ref = zbud.createInMatchingFrame(owner: owner, data: bytes) { return ref }
            guard let frame = pool.allocate() else { return nil }
            return zbud.createInNewFrame(
                frame, address: pool.address(of: frame), owner: owner, data: bytes)
        }
        if finish, let ref { zbud.finishCreate(ref) }
        return ref
    }

    /// Stores in a new frame from the pool, never matching.
    func storeInNewFrame(_ budClass: ZBudClass, owner: BudOwner, data: [UInt8], finish: Bool = true)
        -> ZBudRef
    {
        let frame = pool.allocate()!
        let ref = data.withUnsafeBytes {
            zbud(budClass).createInNewFrame(
                frame, address: pool.address(of: frame), owner: owner, data: $0)
        }
        if finish { zbud(budClass).finishCreate(ref) }
        return ref
    }

    /// Frees a bud, returning an emptied frame to the pool; true if it did.
    @discardableResult
    func release(_ budClass: ZBudClass, _ ref: ZBudRef) -> Bool {
        guard let frame = zbud(budClass).free(ref) else { return false }
        pool.free(frame)
        return true
    }

    /// The bytes of `ref` as copyOut returns them (nil for a dying frame).
    func read(_ budClass: ZBudClass, _ ref: ZBudRef) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: ZBud.maxZPageSize)
        let size = buffer.withUnsafeMutableBytes { zbud(budClass).copyOut(ref, into: $0) }
        return size.map { Array(buffer[0..<$0]) }
    }

    /// The frame accounting of the ownership rule, and every internal invariant.
    func checkAccounting(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(
            pool.allocatedTotal - pool.freedTotal,
            ephemeral.stats.pageframes + persistent.stats.pageframes,
            "frames allocated - freed != ephemeral + persistent frames", file: file, line: line)
        XCTAssertEqual(pool.framesInUse, pool.allocatedTotal - pool.freedTotal, file: file, line: line)
        XCTAssertEqual(pool.invalidFrees, 0, "a frame was freed twice", file: file, line: line)
        pool.checkInvariants()
        ephemeral.checkInvariants()
        persistent.checkInvariants()
    }
}
