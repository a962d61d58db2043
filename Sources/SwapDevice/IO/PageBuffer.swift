// Owned page memory for I/O and the swap cache.

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
    /// to be overwritten.
    public init(zeroFilled: Bool) {
        bytes = .allocate(byteCount: pageSize, alignment: pageSize)
        if zeroFilled { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    /// A page holding a copy of `contents` (4096 bytes), or `nil` for any other size.
    public convenience init?(copying contents: some Collection<UInt8>) {
        guard contents.count == pageSize else { return nil }
        self.init()
        bytes.copyBytes(from: contents)
    }

    deinit { bytes.deallocate() }
}
