// The swap cache: swap entry -> page (the kernel's swapper_space radix tree).
//
//   SwapCache
//    └─ shards[64]: Shard          an entry's shard: a multiplicative hash of
//        ├─ lock: Lock             its offset, so consecutive entries (a
//        └─ pages: [entry: page]   writeback pass adding the next while the I/O
//                                  workers delete the last) rarely share a lock
//
// The kernel split its one swap-cache tree for the same reason (64 MB trunks,
// then per swap cluster); those keep neighbouring entries under one lock,
// which is where writeback and its completions meet, so here the shards are
// hashed instead. Every operation is on one entry and takes only its shard's
// lock: `find` takes its reference under it and `dropIfReclaimable` decides
// under it, so a page is never dropped between a `find` and the reference it
// hands out. `count` and `reclaimedPages` sum the shards one at a time (exact
// at rest). Lock order: a `SwapEntryWaitTable` bucket lock (a waiter's
// predicate may look here), then a shard lock; no two shard locks are held at
// once; the slot map's lock is taken after the shard lock is released. Adding
// a page wakes the entry's waiters.
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

    /// Part of the table, under its own lock.
    private final class Shard: @unchecked Sendable {
        let lock = Lock()
        /// Guarded by `lock`.
        var pages: [SwapEntry: SwapCachePage] = [:]
        /// Guarded by `lock`: pages of this shard dropped by reclaim.
        var reclaimedCount = 0
    }

    private static let shardBits = 6
    private let shards: [Shard] = (0..<(1 << SwapCache.shardBits)).map { _ in Shard() }
    private let link = OwnerLink()
    /// The slot map whose has-cache bits a reclaim drop clears (none: no bits).
    let slots: SwapSlotMap?

    /// A cache whose reclaim drops clear has-cache bits in `slots`.
    public init(slots: SwapSlotMap? = nil) {
        self.slots = slots
        link.cache = self
    }

    /// The shard of `entry`: the top bits of its offset times 2^64 / phi.
    @inline(__always)
    private func shard(_ entry: SwapEntry) -> Shard {
        shards[
            Int(
                truncatingIfNeeded: (entry.offset &* 0x9E37_79B9_7F4A_7C15) >> (64 - Self.shardBits)
            )]
    }

    /// `add_to_swap_cache`: false (and nothing changes) when a page for the entry
    /// is present, or when the page was added to another swap cache before (a
    /// page belongs to one cache for its life).
    public func add(_ page: SwapCachePage) -> Bool {
        let shard = shard(page.entry)
        let added = shard.lock.withLock {
            guard shard.pages[page.entry] == nil, page.claimOwner(link) else { return false }
            shard.pages[page.entry] = page
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
        let shard = shard(entry)
        return shard.lock.withLock { shard.pages[entry] != nil }
    }

    /// `lookup_swap_cache`: the page for `entry` with a new reference the caller
    /// must give back with `release`, or nil.
    public func find(_ entry: SwapEntry) -> SwapCachePage? {
        let shard = shard(entry)
        return shard.lock.withLock {
            guard let page = shard.pages[entry] else { return nil }
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
        let shard = shard(page.entry)
        return shard.lock.withLock {
            guard shard.pages[page.entry] === page else { return false }
            shard.pages[page.entry] = nil
            return true
        }
    }

    /// Pages in the cache (the shards counted one after another: exact at rest).
    public var count: Int {
        shards.reduce(0) { sum, shard in sum + shard.lock.withLock { shard.pages.count } }
    }

    /// Pages dropped by reclaim (last reference gone after writeback).
    public var reclaimedPages: Int {
        shards.reduce(0) { sum, shard in sum + shard.lock.withLock { shard.reclaimedCount } }
    }

    /// Whether `page` is the cached page for its entry.
    public func contains(_ page: SwapCachePage) -> Bool {
        let shard = shard(page.entry)
        return shard.lock.withLock { shard.pages[page.entry] === page }
    }

    /// Drops `page` from the cache and clears its has-cache bit if it is cached,
    /// marked for reclaim, not under writeback, not dirty, and nobody holds it.
    /// Returns whether it did.
    @discardableResult
    func dropIfReclaimable(_ page: SwapCachePage) -> Bool {
        let shard = shard(page.entry)
        let dropped = shard.lock.withLock { () -> Bool in
            guard shard.pages[page.entry] === page, page.references == 0 else { return false }
            let flags = page.flags
            guard flags.contains(.reclaim), flags.isDisjoint(with: [.writeback, .dirty]) else {
                return false
            }
            shard.pages[page.entry] = nil
            shard.reclaimedCount += 1
            return true
        }
        if dropped { slots?.swapcacheFree(page.entry) }
        return dropped
    }
}
