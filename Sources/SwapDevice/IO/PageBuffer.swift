// Owned page memory for I/O and the swap cache.

import ZCacheSupport

/// One page of memory, 4096 bytes aligned to 4096, owned by this object and freed
/// with it. The swap cache's pages and every submitted I/O use one.
///
/// Not synchronised: whoever writes the bytes must hand the buffer over (submit it,
/// publish it through a lock) before another thread reads them. While an I/O on a
/// buffer is in flight, only the I/O worker may touch it.
public final class PageBuffer: @unchecked Sendable {
    /// The page: exactly `pageSize` bytes, page-aligned, zero-filled at creation.
    public let bytes: UnsafeMutableRawBufferPointer

    /// A zero-filled page.
    public init() {
        bytes = .allocate(byteCount: pageSize, alignment: pageSize)
        bytes.initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// A page holding a copy of `contents` (4096 bytes), or `nil` for any other size.
    public convenience init?(copying contents: some Collection<UInt8>) {
        guard contents.count == pageSize else { return nil }
        self.init()
        bytes.copyBytes(from: contents)
    }

    deinit { bytes.deallocate() }
}
