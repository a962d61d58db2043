// One user per swap file, as `swapon(2)` enforces in the kernel (EBUSY).
//
// Two users of one swap file would hand out the same slots and overwrite each
// other's pages. So `open` and `create` claim the file before they read or change
// anything in it:
//
//   1. A swap area the kernel itself has active (a line of /proc/swaps names the
//      same device and inode) is refused: `.activeSystemSwapArea`.
//   2. An exclusive `flock(2)` on the open file description, held until the
//      device closes its file. The lock belongs to the open file description, not
//      to the process, so a second `SwapDevice` on the same file in the same
//      process is refused like one in another process: `.inUse(holder:)`, with
//      the holder's PID when /proc/locks names it.
//
// The lock is advisory: it keeps out other SwapDevices (and `flock`-aware
// tools), not a process that writes the file without asking.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension SwapDevice {
    /// Claims the open file `fd` for this process: refuses an active system swap
    /// area, then takes the exclusive lock (released when `fd` is closed).
    static func claimExclusively(
        fd: Int32, configuration: Configuration
    ) throws(SwapDeviceError) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .io(op: "fstat", errno: errno) }
        let identity = FileIdentity(status)
        if let listing = try? String(
            contentsOfFile: configuration.systemSwapAreasPath, encoding: .utf8),
            activeSwapAreaPaths(in: listing).contains(where: { FileIdentity(path: $0) == identity })
        {
            throw .activeSystemSwapArea
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK || code == EAGAIN else { throw .io(op: "flock", errno: code) }
            throw .inUse(holder: lockHolder(of: identity, locksPath: configuration.systemLocksPath))
        }
    }

    /// The file names in a /proc/swaps listing (its first column, unescaped).
    static func activeSwapAreaPaths(in listing: String) -> [String] {
        listing.split(separator: "\n").dropFirst().compactMap { line in
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map {
                unescapeOctal(String($0))
            }
        }
    }

    /// The kernel prints a space in a path as `\040` (and tab, newline and
    /// backslash likewise) so that a line splits on white space.
    static func unescapeOctal(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The PID that holds a `flock` on the file, from a /proc/locks listing:
    /// `1: FLOCK  ADVISORY  WRITE 4242 fe:00:16221317 0 EOF` (device major and
    /// minor in hex, then the inode). Nil where the system does not say.
    static func lockHolder(of identity: FileIdentity, locksPath: String) -> Int32? {
        guard let listing = try? String(contentsOfFile: locksPath, encoding: .utf8) else {
            return nil
        }
        let wanted =
            "\(String(identity.major, radix: 16, uppercase: false).leftPadded(2)):"
            + "\(String(identity.minor, radix: 16, uppercase: false).leftPadded(2)):"
            + "\(identity.inode)"
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // Waiters are listed as "N: -> FLOCK ..."; only the holder counts.
            guard fields.count >= 6, fields[1] == "FLOCK", fields[5] == wanted else { continue }
            return Int32(fields[4])
        }
        return nil
    }
}

/// A file's device and inode: what makes two paths the same file.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64

    init(_ status: stat) {
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self.init(status)
    }

    /// glibc's `major()` and `minor()` (macros, so not imported).
    var major: UInt64 { ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff) }
    var minor: UInt64 { (device & 0xff) | ((device >> 12) & ~0xff) }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
