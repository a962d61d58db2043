// The host's RAM as seen from other threads.
//
// The simulated host runs on one thread, but the layer below it takes pages
// from the host's RAM from other threads (writeback's "allocate forcing", whose
// pages come back when an asynchronous write completes). So the numbers that
// cross threads live here, in atomics: pages the host has resident, pageframes
// the cache holds, pages taken by forced allocations, and the LRU counts the
// host last published.

import Synchronization

/// RAM accounting shared between the host thread and the cache's threads.
public final class HostRAM: Sendable {
    /// Total RAM in pages.
    public let totalPages: Int
    /// Forced allocations never take the last `reservePages` free pages.
    public let reservePages: Int

    let residentPages = Atomic<Int>(0)
    let cacheFrames = Atomic<Int>(0)
    let forcedPages = Atomic<Int>(0)
    let forcedPagesPeak = Atomic<Int>(0)
    let forcedRefusals = Atomic<Int>(0)
    let activeFile = Atomic<Int>(0)
    let inactiveFile = Atomic<Int>(0)
    let activeAnon = Atomic<Int>(0)
    let inactiveAnon = Atomic<Int>(0)

    public init(totalPages: Int, reservePages: Int) {
        self.totalPages = totalPages
        self.reservePages = reservePages
    }

    /// Pages nobody holds.
    public var freePages: Int {
        totalPages - residentPages.load(ordering: .relaxed) - cacheFrames.load(ordering: .relaxed)
            - forcedPages.load(ordering: .relaxed)
    }

    /// Pages currently taken by forced allocations, and the most ever at once.
    public var forcedPagesInUse: Int { forcedPages.load(ordering: .relaxed) }
    public var forcedPagesMax: Int { forcedPagesPeak.load(ordering: .relaxed) }
    /// Forced allocations refused because RAM was down to the reserve.
    public var forcedAllocationRefusals: Int { forcedRefusals.load(ordering: .relaxed) }

    /// The LRU counts the host last published.
    public var lru: LRUCounts {
        LRUCounts(
            activeFile: activeFile.load(ordering: .relaxed),
            inactiveFile: inactiveFile.load(ordering: .relaxed),
            activeAnon: activeAnon.load(ordering: .relaxed),
            inactiveAnon: inactiveAnon.load(ordering: .relaxed))
    }

    func publish(_ counts: LRUCounts) {
        activeFile.store(counts.activeFile, ordering: .relaxed)
        inactiveFile.store(counts.inactiveFile, ordering: .relaxed)
        activeAnon.store(counts.activeAnon, ordering: .relaxed)
        inactiveAnon.store(counts.inactiveAnon, ordering: .relaxed)
    }

    /// Takes one page for the cache's writeback, unless RAM is down to the reserve.
    public func takeForcedPage() -> Bool {
        guard freePages > reservePages else {
            forcedRefusals.add(1, ordering: .relaxed)
            return false
        }
        let now = forcedPages.add(1, ordering: .relaxed).newValue
        forcedPagesPeak.max(now, ordering: .relaxed)
        return true
    }

    /// Gives back a page taken by `takeForcedPage`.
    public func returnForcedPage() {
        forcedPages.subtract(1, ordering: .relaxed)
    }
}
