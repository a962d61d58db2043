import ZCacheSupport

/// How a `ZCache` is set up. Every field has the kernel's default.
public struct ZCacheConfiguration: Sendable, Equatable {
    /// The codec for every page (zcache's `zcache_comp_name`). LZ4 by default.
    public var compressor: CompressorKind = .lz4

    /// Pageframes zcache may allocate on its own (its `alloc_page(ZCACHE_GFP_MASK)`
    /// calls, which fail under pressure). The pool is reserved once, up front.
    public var pageframes: Int = 16_384

    /// Frontswap gets remove the page (`frontswap_tmem_exclusive_gets`). On by default.
    public var exclusiveGets = true

    /// Ignore cleancache puts of pages that were never on the active list
    /// (counted in `eph_nonactive_puts_ignored`). On by default.
    public var ignoreNonActiveEphemeralPuts = true

    /// Ignore frontswap stores of pages that were never on the active list
    /// (counted in `pers_nonactive_puts_ignored`). On by default.
    public var ignoreNonActivePersistentPuts = true

    /// Write persistent pageframes back to the swap device under pressure (the
    /// seed's `CONFIG_ZCACHE_WRITEBACK`, here a runtime switch). On by default.
    public var writebackEnabled = true

    /// Hard cap on pages submitted to swap devices and not yet completed
    /// (`zcache_max_outstanding_writeback_pages`).
    public var maxOutstandingWritebackPages = 6400

    /// Which allocator holds the compressed pages (the kernel's zpool choice).
    /// zsmalloc by default, as in zswap since 6.x: it holds ~28 % more pages
    /// than zbud in the same frames on the heap corpora (README, "Density");
    /// zbud stays selectable for zcache 2013's exact behaviour.
    public var allocator: ZCacheAllocatorKind = .zsmalloc

    /// Store pages that compress poorly (above 4000 bytes ephemeral, 3584
    /// persistent, and regardless of the mean) when the allocator can hold
    /// them (zsmalloc's huge class, up to a page less the key), counted in
    /// `incompressible_stored`, instead of refusing them as `compress_poor`.
    /// Off by default: such a page saves at most a few percent of a frame yet
    /// takes a frame, while the pool could hold two or three well-compressed
    /// pages there; the swap device is the better home. zbud always refuses.
    public var storeIncompressible = false

    /// What the shrinker does with the host's LRU counts.
    public var shrinkerPolicy: ShrinkerPolicy = .seed

    /// The most pageframes zcache may hold, in percent of the host's RAM
    /// (zswap's `max_pool_percent`; the host says its RAM through
    /// `HostMemory.ramPages`, else `pageframes` stands for it). 100: no limit
    /// beyond the pool. Values outside 0...100 count as the nearest bound.
    public var maxPoolPercent = 100

    /// Once the limit was hit, puts are refused until the pool falls to this
    /// percent of the limit (zswap's `accept_threshold_percent`, default 90).
    public var acceptThresholdPercent = 90

    /// Creates the default configuration.
    public init() {}
}
