// Owned page memory for I/O and the swap cache.
//
//   PageBuffer.init --pop--> PageBlockPool (up to `capacity` free blocks) --empty--> posix_memalign
//   PageBuffer.deinit --push--> PageBlockPool --full--> free
//
// Writeback and swap-in allocate a page per page moved and free it on another
// thread (an I/O worker drops a written page). glibc serves a 4096-aligned
// 4 KiB block by splitting a larger chunk and coalesces it again on free,
// which cost writeback about a quarter as much CPU as its pwrite. Blocks are
// therefore recycled through a small pool: a pop or a push under one lock.
// Under AddressSanitizer a block in the pool is poisoned, so a use of a
// buffer's bytes after its deinit is reported as it would be after a free.

import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One page of memory, 4096 bytes aligned to 4096, owned by this object and freed
/// with it. The swap cache's pages and every submitted I/O use one.
///
/// Not synchronised: whoever writes the bytes must hand the buffer over (submit it,
/// publish it through a lock) before another thread reads them. While an I/O on a
/// buffer is in flight, only the I/O worker may touch it.
public final class PageBuffer: @unchecked Sendable {
    /// The page: exactly `pageSize` bytes, page-aligned.
    public let bytes: UnsafeMutableRawBufferPointer

    /// A zero-filled page.
    public convenience init() { self.init(zeroFilled: true) }

    /// A page, zero-filled or not. Pass `false` only when every byte is
    /// overwritten (decompressed, copied or read into) before any is read: a
    /// fresh page for a swap-in or writeback would otherwise be cleared just
    /// to be overwritten. (A recycled block holds an earlier page's bytes.)
    public init(zeroFilled: Bool) {
        bytes = PageBlockPool.shared.take()
        if zeroFilled { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    /// A page holding a copy of `contents` (4096 bytes), or `nil` for any other size.
    public convenience init?(copying contents: some Collection<UInt8>) {
        guard contents.count == pageSize else { return nil }
        self.init(zeroFilled: false)
        bytes.copyBytes(from: contents)
    }

    deinit { PageBlockPool.shared.give(bytes) }
}

/// Free page-aligned 4 KiB blocks kept for reuse, at most `capacity` of them
/// (4 MiB for the shared pool); past that a block goes back to the allocator.
/// The lock guards only the stack of free blocks and is held for one push or
/// pop. The most recently given block is taken first.
final class PageBlockPool: @unchecked Sendable {
    /// Enough to take back the pages of half a full I/O queue (the default
    /// depth is 1024) between two refills by the allocating thread.
    static let shared = PageBlockPool(capacity: 1024)

    let capacity: Int
    private let free: LockedValue<[UnsafeMutableRawPointer]>

    /// An empty pool keeping up to `capacity` blocks (tests make their own).
    init(capacity: Int) {
        self.capacity = capacity
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(capacity)
        free = LockedValue(blocks)
    }

    /// Blocks the pool keeps now.
    var freeBlocks: Int { free.withLock { $0.count } }

    /// A block from the pool, else a fresh one; its contents are undefined.
    func take() -> UnsafeMutableRawBufferPointer {
        if let block = free.withLock({ $0.popLast() }) {
            // Ours alone from the pop on: usable again under AddressSanitizer.
            AddressSanitizer.unpoison(block, pageSize)
            return UnsafeMutableRawBufferPointer(start: block, count: pageSize)
        }
        return .allocate(byteCount: pageSize, alignment: pageSize)
    }

    /// Gives `block` (from `take`) back: kept while the pool has room, else freed.
    func give(_ block: UnsafeMutableRawBufferPointer) {
        guard let start = block.baseAddress else { return }
        // Poisoned before the push: once pushed, another thread may take it.
        AddressSanitizer.poison(start, pageSize)
        let kept = free.withLock { blocks in
            guard blocks.count < capacity else { return false }
            blocks.append(start)
            return true
        }
        if !kept {
            AddressSanitizer.unpoison(start, pageSize)
            block.deallocate()
        }
    }
}

/// AddressSanitizer's manual poisoning (`__asan_poison_memory_region`), found
/// at run time: present only in a process built with `-sanitize=address`,
/// where memory a pool keeps for reuse would otherwise look valid to it.
/// Elsewhere both calls do nothing.
enum AddressSanitizer {
    private typealias RegionFunction = @convention(c) (UnsafeRawPointer, Int) -> Void

    private static let functions: (poison: RegionFunction, unpoison: RegionFunction)? = {
        guard let poison = dlsym(nil, "__asan_poison_memory_region"),
            let unpoison = dlsym(nil, "__asan_unpoison_memory_region")
        else { return nil }
        return (
            unsafeBitCast(poison, to: RegionFunction.self),
            unsafeBitCast(unpoison, to: RegionFunction.self)
        )
    }()

    /// Whether the process runs under AddressSanitizer.
    static var isActive: Bool { functions != nil }

    @inline(__always)
    static func poison(_ start: UnsafeRawPointer, _ count: Int) {
        functions?.poison(start, count)
    }

    @inline(__always)
    static func unpoison(_ start: UnsafeRawPointer, _ count: Int) {
        functions?.unpoison(start, count)
    }
}
