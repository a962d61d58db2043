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

import ZCacheSupport

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
/// (4 MiB); past that a block goes back to the allocator. The lock guards only
/// the stack of free blocks and is held for one push or pop.
final class PageBlockPool: @unchecked Sendable {
    static let shared = PageBlockPool()

    /// Enough to take back the pages of half a full I/O queue (the default
    /// depth is 1024) between two refills by the allocating thread.
    static let capacity = 1024

    private let free: LockedValue<[UnsafeMutableRawPointer]>

    private init() {
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(Self.capacity)
        free = LockedValue(blocks)
    }

    /// A block from the pool, else a fresh one; its contents are undefined.
    func take() -> UnsafeMutableRawBufferPointer {
        if let block = free.withLock({ $0.popLast() }) {
            return UnsafeMutableRawBufferPointer(start: block, count: pageSize)
        }
        return .allocate(byteCount: pageSize, alignment: pageSize)
    }

    /// Gives `block` (from `take`) back: kept while the pool has room, else freed.
    func give(_ block: UnsafeMutableRawBufferPointer) {
        guard let start = block.baseAddress else { return }
        let kept = free.withLock { blocks in
            guard blocks.count < Self.capacity else { return false }
            blocks.append(start)
            return true
        }
        if !kept { block.deallocate() }
    }
}
