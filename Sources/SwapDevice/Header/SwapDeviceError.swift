// Why a swap device could not be created or opened.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A swap file that cannot be used, or a system call that failed while creating or
/// opening one. Each bad-header case names what was wrong.
public enum SwapDeviceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file is shorter than two pages (a header and one slot), or the header's
    /// `last_page` is 0, or `create` was asked for fewer than two pages.
    case tooSmall
    /// More pages than a 32-bit `last_page` can describe.
    case tooLarge
    /// No `SWAPSPACE2` in the last 10 bytes of page 0, nor any other known signature.
    case noSwapMagic
    /// Another signature where the magic belongs: the version 0 `SWAP-SPACE`, a
    /// hibernation image (`S1SUSPEND`, ...), or `SWAPSPACE2` for another page size.
    case foreignMagic(String)
    /// A header version other than 1.
    case unsupportedVersion(UInt32)
    /// The header's `last_page` lies beyond the end of the file.
    case lastPageBeyondEnd
    /// The header lists this many bad pages; this module does not honour them.
    case badPagesListed(Int)
    /// The label does not fit the header's 16 bytes (UTF-8).
    case labelTooLong
    /// A swap type outside `0..<32`.
    case invalidType(Int)
    /// Another `SwapDevice` (in this process or another) holds the file's
    /// exclusive lock; `holder` is its process ID where the system names it.
    /// The kernel's `swapon` answers EBUSY in the same case.
    case inUse(holder: Int32?)
    /// The kernel itself uses the file as swap (it is listed in /proc/swaps).
    case activeSystemSwapArea
    /// A system call failed: `op` names it (`open`, `ftruncate`, `fstat`, `flock`,
    /// `pread`, `pwrite`, `fsync`), `errno` says why.
    case io(op: String, errno: Int32)

    public var description: String {
        switch self {
        case .tooSmall: "swap file too small (needs a header page and at least one slot)"
        case .tooLarge: "swap file too large for a 32-bit last_page"
        case .noSwapMagic: "no SWAPSPACE2 signature: not a swap file"
        case .foreignMagic(let what): "not a version 1 swap file with 4 KiB pages: found \(what)"
        case .unsupportedVersion(let version): "unsupported swap header version \(version)"
        case .lastPageBeyondEnd: "swap header's last_page lies beyond the end of the file"
        case .badPagesListed(let count): "swap header lists \(count) bad pages"
        case .labelTooLong: "swap label longer than 16 bytes"
        case .invalidType(let type): "swap type \(type) outside 0..<32"
        case .inUse(let holder?) where holder == getpid():
            "swap file is in use by another SwapDevice in this process (pid \(holder))"
        case .inUse(let holder?): "swap file is in use by process \(holder)"
        case .inUse(nil): "swap file is in use by another process"
        case .activeSystemSwapArea:
            "swap file is an active system swap area (listed in /proc/swaps)"
        case .io(let op, let errno):
            "\(op) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}
