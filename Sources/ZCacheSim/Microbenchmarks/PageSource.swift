import Foundation
import ZCache
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

/// The compressed pages of a page set, in order, for the allocator
/// microbenchmarks: each page's LZ4 output, all-zero pages left out (ZCache
/// stores them with no frame). A page that does not compress to `bound`
/// bytes is kept as its raw 4096 bytes when `keepingRaw` (zsmalloc's huge
/// class takes it), else left out (zbud refuses it).
struct CompressedPages {
    var bytes: [UInt8] = []
    var offsets: [Int] = []
    var sizes: [Int] = []
    var zeroPages = 0
    /// Pages kept raw (`keepingRaw`).
    var rawPages = 0
    /// Pages left out as not compressing to `bound` (not `keepingRaw`).
    var poorPages = 0

    init(pages: [UInt8], bound: Int, keepingRaw: Bool) {
        let compressor = Compressor(.lz4)
        var scratch = [UInt8](repeating: 0, count: Compressor.maxCompressedSize)
        pages.withUnsafeBytes { all in
            for start in stride(from: 0, to: all.count, by: pageSize) {
                let page = UnsafeRawBufferPointer(rebasing: all[start..<start + pageSize])
                if page.allSatisfy({ $0 == 0 }) {
                    zeroPages += 1
                    continue
                }
                if let size = scratch.withUnsafeMutableBytes({
                    compressor.compress(page, into: $0, bound: bound)
                }) {
                    offsets.append(bytes.count)
                    sizes.append(size)
                    bytes.append(contentsOf: scratch[0..<size])
                } else if keepingRaw {
                    offsets.append(bytes.count)
                    rawPages += 1
                    sizes.append(pageSize)
                    bytes.append(contentsOf: page)
                } else {
                    poorPages += 1
                }
            }
        }
    }

    /// The bytes of page `i`'s object.
    func withObject<T>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        bytes.withUnsafeBytes {
            body(UnsafeRawBufferPointer(rebasing: $0[offsets[i]..<offsets[i] + sizes[i]]))
        }
    }
}
