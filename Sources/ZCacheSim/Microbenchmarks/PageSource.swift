import Foundation
import ZCacheSupport

/// Real pages for benchmarks: the concatenated 4096-byte pages of corpus files,
/// or, without any, the first pages of binaries and libraries on this system.
public enum BenchmarkPages {
    public enum LoadError: Error, CustomStringConvertible {
        case unreadable(String)
        case notWholePages(String, Int)

        public var description: String {
            switch self {
            case .unreadable(let path): "cannot read \(path)"
            case .notWholePages(let path, let size):
                "\(path): size \(size) is not a multiple of \(pageSize)"
            }
        }
    }

    /// Loads every page of `files`; each size must be a multiple of 4096.
    public static func load(corpus files: [String]) throws(LoadError) -> [UInt8] {
        var bytes: [UInt8] = []
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path)
            }
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
