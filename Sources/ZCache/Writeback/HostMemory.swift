/// The host's LRU list sizes, in pages, which the shrinker compares with
/// zcache's pageframes (the kernel's `global_page_state(NR_LRU_BASE + ...)`).
public struct HostLRUCounts: Sendable, Equatable, Codable {
    public var activeFile: Int
    public var inactiveFile: Int
    public var activeAnon: Int
    public var inactiveAnon: Int

    public init(activeFile: Int, inactiveFile: Int, activeAnon: Int, inactiveAnon: Int) {
        self.activeFile = activeFile
        self.inactiveFile = inactiveFile
        self.activeAnon = activeAnon
        self.inactiveAnon = inactiveAnon
    }
}

/// What zcache needs from the host's memory manager: its LRU counts for the
/// shrinker, and pages "allocated forcing" for writeback when zcache's own
/// pool and ephemeral frames are exhausted.
public protocol HostMemory: AnyObject, Sendable {
    /// The host's current LRU list sizes.
    func lruCounts() -> HostLRUCounts
    /// Takes one page from the host's RAM for writeback; false if none is free.
    func allocateForcedPage() -> Bool
    /// Gives back a page taken with `allocateForcedPage`.
    func freeForcedPage()
    /// The host's RAM in pages, which `maxPoolPercent` is a percentage of;
    /// nil when the host does not say (the pool's size stands for it).
    var ramPages: Int? { get }
}

extension HostMemory {
    public var ramPages: Int? { nil }
}
