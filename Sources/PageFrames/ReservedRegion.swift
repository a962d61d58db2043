// Address space that costs no memory until it is used: the one place where the
// project asks the kernel for lazily committed memory.
//
// `mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)` reserves
// the range; the kernel commits a page (zero-filled) on its first write, and
// `madvise(MADV_DONTNEED)` gives a page back (it reads as zeros again);
// `MADV_NOHUGEPAGE` keeps that unit one page even where THP is "always". So the
// frame pool's frames, and every per-frame metadata array sized for the pool's
// maximum (the pool's own, ZBud's, ZSmalloc's), are resident only where used.
// Metadata kept here must therefore mean "empty" when all its bytes are zero.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why lazily committed memory could not be reserved.
public enum PageFramePoolError: Error, Equatable, Sendable {
    /// `mmap` refused a reservation of `bytes` bytes (the `errno` it set).
    case addressSpaceUnavailable(bytes: Int, errno: Int32)
}

/// A page-aligned range of zero-filled memory, committed by the kernel page by
/// page on first write and unmapped on deinit.
package final class ReservedRegion: @unchecked Sendable {
    /// The first byte (page-aligned).
    package let base: UnsafeMutableRawPointer
    /// The size of the reservation, a whole number of pages.
    package let byteCount: Int

    /// Reserves at least `byteCount` bytes (rounded up to whole pages, at least one).
    package init(byteCount requested: Int) throws(PageFramePoolError) {
        let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = max(1, (requested + pageBytes - 1) / pageBytes) * pageBytes
        #if canImport(Darwin)
            let flags = MAP_PRIVATE | MAP_ANON | MAP_NORESERVE
        #else
            let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #endif
        let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw .addressSpaceUnavailable(bytes: bytes, errno: errno)
        }
        #if os(Linux)
            // Keep the kernel's unit of commitment at one page: a transparent
            // huge page would make a first touch commit 2 MiB and keep a
            // freed frame resident until its whole huge page is free.
            _ = madvise(address, bytes, MADV_NOHUGEPAGE)
        #endif
        base = address
        byteCount = bytes
    }

    /// Reserves room for `count` values of `T`, for metadata that must exist
    /// whenever its owner does (like a `malloc` that cannot fail, this traps
    /// when even the address space is exhausted).
    /// `T` must be a trivial type (no references) whose all-zero bytes are a
    /// valid value: the memory is bound, never initialized value by value.
    package static func array<T: ~Copyable>(
        of _: T.Type, count: Int
    ) -> (ReservedRegion, UnsafeMutablePointer<T>) {
        let region: ReservedRegion
        do {
            region = try ReservedRegion(byteCount: max(1, count) * MemoryLayout<T>.stride)
        } catch {
            fatalError("cannot reserve \(count) × \(T.self): \(error)")
        }
        return (region, region.base.bindMemory(to: T.self, capacity: max(1, count)))
    }

    deinit { munmap(base, byteCount) }

    /// Gives the whole pages inside `offset..<offset + length` back to the
    /// kernel: they stop counting as resident and read as zeros again.
    package func release(offset: Int, length: Int) {
        precondition(offset >= 0 && length >= 0 && offset + length <= byteCount)
        guard length > 0 else { return }
        #if canImport(Darwin)
            let advice = MADV_FREE
        #else
            let advice = MADV_DONTNEED
        #endif
        let rc = madvise(base + offset, length, advice)
        // madvise on our own mapping fails only on bad arguments: a bug.
        assert(rc == 0, "madvise failed: errno \(errno)")
    }

    /// Bytes of the region that are resident now, as the kernel reports them
    /// (`mincore`), not as any counter of ours believes.
    package func residentBytes() -> Int {
        let pageBytes = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = byteCount / pageBytes
        var vector = [UInt8](repeating: 0, count: pages)
        let rc = vector.withUnsafeMutableBufferPointer { buffer in
            #if canImport(Darwin)
                mincore(
                    base, byteCount, UnsafeMutablePointer<CChar>(OpaquePointer(buffer.baseAddress)))
            #else
                mincore(base, byteCount, buffer.baseAddress)
            #endif
        }
        guard rc == 0 else { return 0 }
        var resident = 0
        for flag in vector where flag & 1 != 0 { resident += 1 }
        return resident * pageBytes
    }
}
