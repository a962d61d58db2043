import ZCache

/// Where one page of a region is, as its fault handler knows it. Only the
/// fault-handler thread reads or changes these, so they need no lock; the
/// kernel's page table agrees with them whenever that thread is between
/// two steps.
enum PageState {
    /// Never mapped: the first touch gets a zero page.
    case untouched
    /// Mapped.
    case resident(ResidentPage)
    /// Not mapped; its contents are at this swap entry (in ZCache, the swap
    /// cache, or on the swap device after writeback).
    case stored(SwapEntry)
}

/// A mapped page's bookkeeping.
struct ResidentPage {
    /// What the page is known to equal while it has not been written since:
    /// `nil` means dirty (dropping it needs a store).
    var clean: CleanCopy?
    /// The page is write-protected (a write raises a write-protect fault).
    /// Every clean page is write-protected: that is how it learns it is dirty.
    var writeProtected: Bool
    /// Used since the clock hand last passed it (mapped, or written).
    var referenced: Bool
}

/// The exact copy of a clean page.
enum CleanCopy {
    /// The page is all zeros (a read of an untouched page): dropping it
    /// makes it untouched again.
    case zero
    /// The page still equals what this swap entry holds (a read fault kept
    /// the entry, possible when the cache's gets are not exclusive).
    case stored(SwapEntry)
}

/// The clock: mapped pages in the order they were mapped. The hand takes the
/// oldest; a page referenced since the last pass goes to the back once
/// (second chance), the rest are reclaimed. A ring of page numbers whose
/// capacity is the region's resident limit (plus room for overruns).
struct PageClock {
    private var ring: [Int32]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { ring = Array(repeating: -1, count: max(1, capacity)) }

    mutating func append(_ page: Int) {
        if count == ring.count { grow() }
        ring[(head + count) % ring.count] = Int32(page)
        count += 1
    }

    mutating func popOldest() -> Int? {
        guard count > 0 else { return nil }
        let page = Int(ring[head])
        head = (head + 1) % ring.count
        count -= 1
        return page
    }

    /// Only when stores failed and the limit was overrun.
    private mutating func grow() {
        var bigger = [Int32](repeating: -1, count: ring.count * 2)
        for i in 0..<count { bigger[i] = ring[(head + i) % ring.count] }
        ring = bigger
        head = 0
    }
}
