// The swap cache: swap entry -> page (the kernel's swapper_space radix tree).
//
// One `Lock` guards the table. `find` takes its reference under that lock, and
// `dropIfReclaimable` decides under it, so a page is never dropped between a
// `find` and the reference it hands out. Lock order: a `SwapEntryWaitTable`
// bucket lock (a waiter's predicate may look here), then the cache lock; the
// slot map's lock is taken after the cache lock is released. Adding a page
// wakes the entry's waiters.
//
// A page finds its cache, for the drop when its last reference goes, through
// the cache's `OwnerLink`: a small object the page retains from its first
// `add` until it goes, and that holds the cache weakly, so pages left in a
// cache do not keep it alive. A page belongs to one cache for its life: a
// link once set is never replaced, so a `release` on another thread can
// always use the link it read.

import ZCacheSupport

/// Pages in memory for swap entries: those being written to the swap device, and
/// those read back or about to be.
///
/// `add` and `delete` manage membership only; the slot's has-cache bit is the
/// caller's, as in the kernel (`swapcachePrepare` before `add`, `swapcacheFree`
/// after `delete`). The one exception is the reclaim drop: when the last reference
/// to a page marked `reclaim` goes (not under writeback, not dirty), the cache
/// deletes it and clears the slot's has-cache bit, as the kernel's reclaim does
/// with `__delete_from_swap_cache` and `swapcache_free`.
public final class SwapCache: @unchecked Sendable {
    /// What a page holds to find the cache it was added to.
    final class OwnerLink: @unchecked Sendable {
        /// Written once, by the cache's `init`, before the link is shared.
        fileprivate(set) weak var cache: SwapCache?
    }

    private let lock = Lock()
    private var pages: [SwapEntry: SwapCachePage] = [:]
    private var reclaimedCount = 0
    private let link = OwnerLink()
    /// The slot map whose has-cache bits a reclaim drop clears (none: no bits).
    let slots: SwapSlotMap?

    /// A cache whose reclaim drops clear has-cache bits in `slots`.
    public init(slots: SwapSlotMap? = nil) {
        self.slots = slots
        link.cache = self
    }

    /// `add_to_swap_cache`: false (and nothing changes) when a page for the entry
    /// is present, or when the page was added to another swap cache before (a
    /// page belongs to one cache for its life).
    public func add(_ page: SwapCachePage) -> Bool {
        let added = lock.withLock {
            guard pages[page.entry] == nil, page.claimOwner(link) else { return false }
            pages[page.entry] = page
            return true
        }
        if added { SwapEntryWaitTable.wake(page.entry) }
        return added
    }

    /// Adds a new page for `entry`, locked and not up to date, for the caller to
    /// fill, flag and unlock; its buffer is not zero-filled, so the caller must
    /// write every byte. The caller holds the entry's has-cache bit (from
    /// `allocate` or `swapcachePrepare`), so no other page can be there; the new
    /// page now owns the bit. Returns the page with the caller's reference.
    public func addLockedPage(for entry: SwapEntry) -> SwapCachePage {
        let page = SwapCachePage(
            entry: entry, buffer: PageBuffer(zeroFilled: false), flags: [.locked])
        let added = add(page)
        // Checked in release builds too: a page not added would be lost silently.
        precondition(added, "has-cache bit held, yet the swap cache had a page for \(entry)")
        return page
    }

    /// Whether a page for `entry` is in the cache (without taking a reference).
    public func hasPage(for entry: SwapEntry) -> Bool {
        lock.withLock { pages[entry] != nil }
    }

    /// `lookup_swap_cache`: the page for `entry` with a new reference the caller
    /// must give back with `release`, or nil.
    public func find(_ entry: SwapEntry) -> SwapCachePage? {
        lock.withLock {
            guard let page = pages[entry] else { return nil }
            page.retain()
            return page
        }
    }

    /// Gives back a reference (same as `page.release()`).
    public func release(_ page: SwapCachePage) { page.release() }

    /// `delete_from_swap_cache`: removes `page` if it is still the page for its
    /// entry; returns whether it did. The has-cache bit is left to the caller.
    @discardableResult
    public func delete(_ page: SwapCachePage) -> Bool {
        lock.withLock {
            guard pages[page.entry] === page else { return false }
            pages[page.entry] = nil
            return true
        }
    }

    /// Pages in the cache.
    public var count: Int { lock.withLock { pages.count } }

    /// Pages dropped by reclaim (last reference gone after writeback).
    public var reclaimedPages: Int { lock.withLock { reclaimedCount } }

    /// Whether `page` is the cached page for its entry.
    public func contains(_ page: SwapCachePage) -> Bool {
        lock.withLock { pages[page.entry] === page }
    }

    /// Drops `page` from the cache and clears its has-cache bit if it is cached,
    /// marked for reclaim, not under writeback, not dirty, and nobody holds it.
    /// Returns whether it did.
    @discardableResult
    func dropIfReclaimable(_ page: SwapCachePage) -> Bool {
        let dropped = lock.withLock { () -> Bool in
            guard pages[page.entry] === page, page.references == 0 else { return false }
            let flags = page.flags
            guard flags.contains(.reclaim), flags.isDisjoint(with: [.writeback, .dirty]) else {
                return false
            }
            pages[page.entry] = nil
            reclaimedCount += 1
            return true
        }
        if dropped { slots?.swapcacheFree(page.entry) }
        return dropped
    }
}
