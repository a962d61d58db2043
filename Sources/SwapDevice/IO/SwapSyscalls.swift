// The system calls the swap device makes for page I/O, as replaceable values.
//
// In the spirit of swift-system's mocking layer: production code calls
// `SwapSyscalls.system`; tests build a `SwapSyscalls` whose `pwrite` fails with
// EIO or ENOSPC, writes short, returns EINTR, or sleeps, and pass it in the
// device's `Configuration`. Each call returns the kernel's convention: a
// non-negative result, or `-errno`.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The page I/O system calls of a swap device; `.system` makes the real ones.
///
/// Every closure returns what the system call returns on success (bytes moved, or
/// 0 for `fsync`), and `-errno` on failure, so a test can inject an error by
/// returning, say, `-Int(EIO)`. Closures run on I/O worker threads (and on the
/// caller's thread inside `create`, `open` and `read`), so they must be
/// thread-safe.
public struct SwapSyscalls: Sendable {
    /// `pread(2)`: read up to `buffer.count` bytes at byte `offset` of `fd`.
    public var pread:
        @Sendable (_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) -> Int
    /// `pwrite(2)`: write up to `buffer.count` bytes at byte `offset` of `fd`.
    public var pwrite:
        @Sendable (_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ offset: Int64) -> Int
    /// `fsync(2)` of `fd`.
    public var fsync: @Sendable (_ fd: Int32) -> Int

    public init(
        pread: @escaping @Sendable (Int32, UnsafeMutableRawBufferPointer, Int64) -> Int,
        pwrite: @escaping @Sendable (Int32, UnsafeRawBufferPointer, Int64) -> Int,
        fsync: @escaping @Sendable (Int32) -> Int
    ) {
        self.pread = pread
        self.pwrite = pwrite
        self.fsync = fsync
    }

    /// The real system calls.
    public static let system = SwapSyscalls(
        pread: { fd, buffer, offset in
            let result = systemPread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return result >= 0 ? result : -Int(errno)
        },
        pwrite: { fd, buffer, offset in
            let result = systemPwrite(fd, buffer.baseAddress, buffer.count, off_t(offset))
            return result >= 0 ? result : -Int(errno)
        },
        fsync: { fd in
            systemFsync(fd) == 0 ? 0 : -Int(errno)
        })
}

// The C functions under names the closures above cannot shadow.
private let systemPread = pread
private let systemPwrite = pwrite
private let systemFsync = fsync

extension SwapSyscalls {
    enum Direction { case read, write }

    /// Moves one whole page between `buffer` and byte `offset` of `fd`: retries a
    /// partial transfer from where it stopped and a call interrupted by `EINTR`;
    /// any other error ends it. A transfer of 0 bytes is `.shortIO` (end of file,
    /// or a device that makes no progress), never an endless loop.
    func transferPage(
        _ direction: Direction, fd: Int32, buffer: UnsafeMutableRawBufferPointer, offset: Int64
    ) -> Result<Void, SwapIOError> {
        var done = 0
        while done < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let result =
                switch direction {
                case .read: pread(fd, rest, offset + Int64(done))
                case .write: pwrite(fd, UnsafeRawBufferPointer(rest), offset + Int64(done))
                }
            if result > 0 {
                done += min(result, rest.count)
            } else if result == 0 {
                return .failure(.shortIO)
            } else if result == -Int(EINTR) {
                continue
            } else {
                return .failure(.io(errno: Int32(truncatingIfNeeded: -result)))
            }
        }
        return .success(())
    }
}
