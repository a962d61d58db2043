// A page in the swap cache: its entry, its memory, its state bits and its holders.

import Synchronization
import ZCacheSupport

/// A page of the swap cache (the kernel's `struct page` in the swap address space).
///
/// **References** count the holders *outside* the cache: the page starts with one
/// (its creator's), `SwapCache.find` takes one, `release` drops one, and an I/O
/// started by `SwapDevice.submitWriteback` holds one until it completes. The cache's
/// own membership is not a reference. "Nobody else holds it" means the count is 0.
///
/// **Flags** mirror the kernel's page flags: `locked` (someone is filling or
/// changing the page), `upToDate` (its bytes are the entry's data), `writeback` (a
/// write to the swap slot is in flight), `reclaim` (drop it from the cache once
/// written), `dirty` (newer than the slot: a write is still needed). Each flag
/// read and update is atomic; the bytes themselves follow the `PageBuffer` rule.
/// Clearing `locked` or `writeback` wakes the entry's waiters (`SwapEntryWaitTable`).
public final class SwapCachePage: @unchecked Sendable {
    /// The page flags.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let locked = Flags(rawValue: 1 << 0)
        public static let upToDate = Flags(rawValue: 1 << 1)
        public static let writeback = Flags(rawValue: 1 << 2)
        public static let reclaim = Flags(rawValue: 1 << 3)
        public static let dirty = Flags(rawValue: 1 << 4)
    }

    /// The swap slot whose data the page holds.
    public let entry: SwapEntry
    /// The page's memory.
    public let buffer: PageBuffer

    private let flagBits: Atomic<UInt8>
    private let referenceCount = Atomic<Int>(1)
    /// The link to the one cache the page is ever added to, retained, so that
    /// `release` can drop a reclaimable page; nil until it is added. Set once
    /// by `SwapCache.add` and kept until the page goes, after it leaves the
    /// cache too (the drop checks that the page is still there).
    private let ownerLink = Atomic<Unmanaged<SwapCache.OwnerLink>?>(nil)

    /// A page for `entry` holding `buffer`, with the creator's reference and `flags`.
    public init(entry: SwapEntry, buffer: PageBuffer = PageBuffer(), flags: Flags = []) {
        self.entry = entry
        self.buffer = buffer
        self.flagBits = Atomic(flags.rawValue)
    }

    /// The current flags.
    public var flags: Flags { Flags(rawValue: flagBits.load(ordering: .acquiring)) }

    /// Sets `flags`; returns the flags as they were.
    @discardableResult
    public func setFlags(_ flags: Flags) -> Flags {
        Flags(
            rawValue: flagBits.bitwiseOr(flags.rawValue, ordering: .acquiringAndReleasing).oldValue)
    }

    /// Clears `flags`; returns the flags as they were. Waiters of the entry are
    /// woken when `locked` or `writeback` was cleared.
    @discardableResult
    public func clearFlags(_ flags: Flags) -> Flags {
        let before = Flags(
            rawValue: flagBits.bitwiseAnd(~flags.rawValue, ordering: .acquiringAndReleasing)
                .oldValue)
        if !before.intersection(flags).isDisjoint(with: [.locked, .writeback]) {
            SwapEntryWaitTable.wake(entry)
        }
        return before
    }

    /// `trylock_page`: sets `locked` and returns true if it was clear.
    public func tryLock() -> Bool { !setFlags(.locked).contains(.locked) }

    /// `lock_page`: sets `locked`, sleeping while someone else holds it.
    public func lock() {
        SwapEntryWaitTable.wait(on: entry) { !tryLock() }
    }

    /// `unlock_page`: clears `locked` and wakes the entry's waiters.
    public func unlock() { clearFlags(.locked) }

    public var isLocked: Bool {
        get { flags.contains(.locked) }
        set { if newValue { setFlags(.locked) } else { clearFlags(.locked) } }
    }
    public var isUpToDate: Bool {
        get { flags.contains(.upToDate) }
        set { if newValue { setFlags(.upToDate) } else { clearFlags(.upToDate) } }
    }
    public var isWriteback: Bool {
        get { flags.contains(.writeback) }
        set { if newValue { setFlags(.writeback) } else { clearFlags(.writeback) } }
    }
    public var isReclaim: Bool {
        get { flags.contains(.reclaim) }
        set { if newValue { setFlags(.reclaim) } else { clearFlags(.reclaim) } }
    }
    public var isDirty: Bool {
        get { flags.contains(.dirty) }
        set { if newValue { setFlags(.dirty) } else { clearFlags(.dirty) } }
    }

    /// Holders outside the cache (see the type's description).
    public var references: Int { referenceCount.load(ordering: .acquiring) }

    /// Takes another reference (`get_page`). The caller must already hold one, or
    /// hold the lock of the cache's shard for the page's entry (as `find` does).
    public func retain() {
        referenceCount.add(1, ordering: .relaxed)
    }

    /// Drops a reference (`put_page`). The last one to go drops the page from its
    /// cache if it is marked for reclaim and neither under writeback nor dirty.
    public func release() {
        let before = referenceCount.subtract(1, ordering: .acquiringAndReleasing).oldValue
        precondition(before > 0, "SwapCachePage \(entry) released more often than retained")
        if before == 1, let link = ownerLink.load(ordering: .acquiring),
            let cache = link.takeUnretainedValue().cache
        {
            cache.dropIfReclaimable(self)
        }
    }

    /// Records `link`'s cache as the page's cache if it has none yet. Returns
    /// whether that cache is the page's (false: the page belongs to another).
    /// Called by `SwapCache.add`.
    func claimOwner(_ link: SwapCache.OwnerLink) -> Bool {
        if let owner = ownerLink.load(ordering: .acquiring) {
            return owner.takeUnretainedValue() === link
        }
        let retained = Unmanaged.passRetained(link)
        let (claimed, owner) = ownerLink.compareExchange(
            expected: nil, desired: retained, ordering: .acquiringAndReleasing)
        if claimed { return true }
        retained.release()
        return owner?.takeUnretainedValue() === link
    }

    deinit { ownerLink.load(ordering: .acquiring)?.release() }
}
