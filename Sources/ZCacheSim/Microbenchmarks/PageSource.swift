import Foundation
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Real pages for benchmarks: the concatenated 4096-byte pages of corpus files,
/// or, without any, the first pages of binaries and libraries on this system.
public enum BenchmarkPages {
    public enum LoadError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Missing, not a regular file, or not readable (`why` says which).
        case unreadable(String, why: String)
        case empty(String)
        case notWholePages(String, Int)

        public var description: String {
            switch self {
            case .unreadable(let path, let why): "\(path): \(why)"
            case .empty(let path): "\(path): empty (no pages)"
            case .notWholePages(let path, let size):
                "\(path): size \(size) is not a multiple of \(pageSize)"
            }
        }
    }

    /// Checks that `path` can serve as a page file without reading it: a
    /// readable regular file, not empty, a whole number of 4096-byte pages.
    /// Every subcommand checks its corpus with this before any work.
    public static func check(_ path: String) throws(LoadError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unreadable(path, why: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadable(path, why: "not a regular file")
        }
        guard access(path, R_OK) == 0 else {
            throw .unreadable(path, why: String(cString: strerror(errno)))
        }
        guard status.st_size > 0 else { throw .empty(path) }
        guard status.st_size % off_t(pageSize) == 0 else {
            throw .notWholePages(path, Int(status.st_size))
        }
    }

    /// Loads every page of `files`, each checked as `check` does.
    public static func load(corpus files: [String]) throws(LoadError) -> [UInt8] {
        var bytes: [UInt8] = []
        for path in files {
            try check(path)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path, why: "read failed")
            }
            // The file may have changed since the check.
            guard !data.isEmpty else { throw .empty(path) }
            guard data.count % pageSize == 0 else { throw .notWholePages(path, data.count) }
            bytes.append(contentsOf: data)
        }
        return bytes
    }

    /// Up to `pagesPerFile` leading pages from each of a set of system binaries
    /// and libraries, for runs without a corpus.
    public static func systemPages(pagesPerFile: Int = 64, maxFiles: Int = 24) -> [UInt8] {
        var bytes: [UInt8] = []
        var files = 0
        for directory in ["/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names.sorted() where files < maxFiles {
                let path = directory + "/" + name
                guard let handle = FileHandle(forReadingAtPath: path) else { continue }
                defer { try? handle.close() }
                guard let data = try? handle.read(upToCount: pagesPerFile * pageSize),
                    data.count >= pageSize
                else { continue }
                bytes.append(contentsOf: data.prefix(data.count / pageSize * pageSize))
                files += 1
            }
        }
        return bytes
    }
}
