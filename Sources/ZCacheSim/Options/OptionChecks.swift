// Checks every command-line option goes through before any work starts, shared
// by all subcommands: integers within bounds (from the machine and from the
// arithmetic), fractions, input page files, output paths. Each failure is one
// line that names the option and the value.
//
//   bounded(value, lo...hi, option:, unit:, limit:)   "--ram must be between 256 and
//                                                     6170021 pages, got 9999999999
//                                                     (6170021: this machine's memory)"
//   fraction(value, option:)                           finite, in 0...1
//   corpus(paths, option:)                             every file readable, regular,
//                                                     non-empty, whole 4096-byte pages
//   outputPath(path, option:)                          writable now, nothing created
//   write(data, to: path, option:)                     the write at the end, one-line failure
//   Machine.physicalMemoryPages, Machine.freeBytes(near:)

import Foundation
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Glibc)
    private let systemWrite = Glibc.write
#elseif canImport(Musl)
    private let systemWrite = Musl.write
#elseif canImport(Darwin)
    private let systemWrite = Darwin.write
#endif

/// An option or input that cannot be used, said in one line.
public struct OptionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The checks every option of every subcommand goes through.
public enum OptionChecks {
    /// `value` must lie in `bounds`. `limit` says where the upper bound comes
    /// from (for example "this machine's physical memory"); it is shown when the
    /// value is above it.
    public static func bounded<Value: FixedWidthInteger>(
        _ value: Value, _ bounds: ClosedRange<Value>, option: String, unit: String = "",
        limit: String? = nil
    ) throws(OptionError) {
        guard !bounds.contains(value) else { return }
        let unit = unit.isEmpty ? "" : " " + unit
        let range =
            bounds.upperBound == Value.max
            ? "at least \(bounds.lowerBound)\(unit)"
            : "between \(bounds.lowerBound) and \(bounds.upperBound)\(unit)"
        var message = "\(option) must be \(range), got \(value)"
        if let limit, value > bounds.upperBound { message += " (\(bounds.upperBound): \(limit))" }
        throw OptionError(message)
    }

    /// A fraction: finite and in 0...1.
    public static func fraction(_ value: Double, option: String) throws(OptionError) {
        guard value.isFinite, (0...1).contains(value) else {
            throw OptionError("\(option) must be a fraction between 0 and 1, got \(value)")
        }
    }

    /// Every page file of a corpus: a readable regular file, not empty, a whole
    /// number of 4096-byte pages. The same check (and message) in every subcommand.
    public static func corpus(_ paths: [String], option: String = "--corpus") throws(OptionError) {
        for path in paths {
            do {
                try BenchmarkPages.check(path)
            } catch {
                throw OptionError("\(option) \(error)")
            }
        }
    }

    /// An output file the run will write at its end, checked before the run
    /// starts so that a long run cannot fail at the last step. Nothing is
    /// created here. Accepted: a writable regular file, a new file in a writable
    /// directory, or a sink that takes anything (a terminal, a pipe, /dev/null).
    public static func outputPath(_ path: String, option: String) throws(OptionError) {
        func refuse(_ why: String) -> OptionError { OptionError("\(option) \(path): \(why)") }
        guard !path.isEmpty else { throw OptionError("\(option) needs a file name") }
        var status = stat()
        if stat(path, &status) == 0 {
            let kind = status.st_mode & S_IFMT
            guard kind != S_IFDIR else { throw refuse("is a directory") }
            guard access(path, W_OK) == 0 else { throw refuse(String(cString: strerror(errno))) }
            if kind == S_IFREG || kind == S_IFIFO { return }
            if kind == S_IFCHR, isSink(path, status) { return }
            throw refuse("not a regular file, a pipe, a terminal or /dev/null")
        }
        guard errno == ENOENT else { throw refuse(String(cString: strerror(errno))) }
        let directory = (path as NSString).deletingLastPathComponent
        let parent = directory.isEmpty ? "." : directory
        var parentStatus = stat()
        guard stat(parent, &parentStatus) == 0 else {
            throw refuse("directory \(parent): \(String(cString: strerror(errno)))")
        }
        guard (parentStatus.st_mode & S_IFMT) == S_IFDIR else {
            throw refuse("\(parent) is not a directory")
        }
        guard access(parent, W_OK | X_OK) == 0 else {
            throw refuse("cannot create a file in \(parent): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `data` to an output file checked by `outputPath`, replacing its
    /// contents; a failure (a full disk, say) is one line naming the option.
    public static func write(_ data: Data, to path: String, option: String) throws(OptionError) {
        func failure(_ what: String) -> OptionError {
            OptionError("\(option) \(path): \(what) failed: \(String(cString: strerror(errno)))")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("open") }
        var written = 0
        var writeFailure: OptionError?
        data.withUnsafeBytes { bytes in
            while written < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + written, bytes.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    writeFailure = failure("write")
                    return
                }
                written += n
            }
        }
        if let writeFailure {
            close(fd)
            throw writeFailure
        }
        guard close(fd) == 0 else { throw failure("close") }
    }

    /// A character device that accepts every write: a terminal, or /dev/null
    /// (not /dev/full, whose writes fail with ENOSPC).
    private static func isSink(_ path: String, _ status: stat) -> Bool {
        let fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            if isatty(fd) == 1 { return true }
        }
        var null = stat()
        return stat("/dev/null", &null) == 0 && null.st_rdev == status.st_rdev
    }
}

/// What the machine allows: the limits of options sized in memory or disk.
public enum Machine {
    /// Physical memory in 4096-byte pages (`sysconf(_SC_PHYS_PAGES)`).
    public static var physicalMemoryPages: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max / pageSize }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max / pageSize : bytes / pageSize
    }

    /// Bytes free to an unprivileged user on the file system that holds `path`
    /// (or its directory, if it does not exist yet); nil if the system does not say.
    public static func freeBytes(near path: String) -> Int? {
        var info = statvfs()
        var target = path
        if access(target, F_OK) != 0 {
            let directory = (path as NSString).deletingLastPathComponent
            target = directory.isEmpty ? "." : directory
        }
        guard statvfs(target, &info) == 0 else { return nil }
        let (bytes, overflow) = Int(info.f_bavail).multipliedReportingOverflow(
            by: Int(info.f_frsize))
        return overflow ? Int.max : bytes
    }

    /// `bytes` for a person: "24.0 GiB".
    public static func describe(bytes: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }
}
