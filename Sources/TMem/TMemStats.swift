// TMem's counters (zcache's debugfs `obj_count`, `flush_total`, ...).

import Synchronization

/// A snapshot of TMem's counters. Coded with the kernel's debugfs names.
public struct TMemStats: Sendable, Codable, Equatable {
    /// Objects (files, swizzled swap objects) currently holding at least one page.
    public var objCount: Int
    /// The largest `objCount` seen.
    public var objCountMax: Int
    /// Calls to ``TMem/flushPage(_:ifHandle:)``.
    public var flushTotal: Int
    /// Of those, the ones that found (and flushed) a page.
    public var flushFound: Int
    /// Calls to ``TMem/flushObject(pool:object:)``.
    public var flobjTotal: Int
    /// Of those, the ones that found the object.
    public var flobjFound: Int
    /// Handles currently stored in every live pool.
    public var pagesStored: Int

    public init(
        objCount: Int = 0, objCountMax: Int = 0, flushTotal: Int = 0, flushFound: Int = 0,
        flobjTotal: Int = 0, flobjFound: Int = 0, pagesStored: Int = 0
    ) {
        self.objCount = objCount
        self.objCountMax = objCountMax
        self.flushTotal = flushTotal
        self.flushFound = flushFound
        self.flobjTotal = flobjTotal
        self.flobjFound = flobjFound
        self.pagesStored = pagesStored
    }

    enum CodingKeys: String, CodingKey {
        case objCount = "obj_count"
        case objCountMax = "obj_count_max"
        case flushTotal = "flush_total"
        case flushFound = "flush_found"
        case flobjTotal = "flobj_total"
        case flobjFound = "flobj_found"
        case pagesStored = "pages_stored"
    }
}

/// The live counters behind ``TMemStats``. Object and flush counts change far
/// less often than pages, so they are plain atomics (as in the kernel); the page
/// count lives in each bucket, under its lock, and is summed on demand.
final class TMemCounters: Sendable {
    let objCount = Atomic<Int>(0)
    let objCountMax = Atomic<Int>(0)
    let flushTotal = Atomic<Int>(0)
    let flushFound = Atomic<Int>(0)
    let flobjTotal = Atomic<Int>(0)
    let flobjFound = Atomic<Int>(0)

    func objectCreated() {
        let now = objCount.add(1, ordering: .relaxed).newValue
        var max = objCountMax.load(ordering: .relaxed)
        while now > max {
            let (exchanged, original) = objCountMax.compareExchange(
                expected: max, desired: now, ordering: .relaxed)
            if exchanged { break }
            max = original
        }
    }

    func objectsRemoved(_ count: Int) {
        if count != 0 { objCount.subtract(count, ordering: .relaxed) }
    }
}
