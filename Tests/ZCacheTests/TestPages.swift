// Pages to compress in tests: generated (zero, random, text-like, structured)
// from a seeded generator, so every run sees the same bytes, and real pages read
// from binaries and libraries installed on the system.

import Foundation
import ZCacheSupport

/// The project's seeded generator, so tests are reproducible.
typealias SeededGenerator = SplitMix64

/// A named page of exactly `pageSize` bytes.
struct TestPage: CustomStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]

    var description: String { name }
}

enum TestPages {
    /// A page of zero bytes.
    static func zero() -> TestPage {
        TestPage(name: "zero", bytes: [UInt8](repeating: 0, count: pageSize))
    }

    /// `count` uniformly random bytes: incompressible.
    static func randomBytes(count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// A page of uniformly random bytes: incompressible.
    static func random(seed: UInt64) -> TestPage {
        TestPage(name: "random(\(seed))", bytes: randomBytes(count: pageSize, seed: seed))
    }

    private static let words = [
        "the", "page", "cache", "swap", "kernel", "memory", "frame", "compressed", "zbud",
        "tmem", "object", "pool", "evict", "writeback", "frontswap", "cleancache", "of", "and",
        "to", "a", "in", "is", "that", "for", "reclaim", "anonymous", "file", "lru", "list",
    ]

    /// `count` bytes of English-like text: random words, punctuation, line breaks.
    static func textBytes(count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 16)
        var column = 0
        while bytes.count < count {
            let word = words[Int.random(in: 0..<words.count, using: &rng)]
            bytes.append(contentsOf: word.utf8)
            column += word.utf8.count + 1
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: bytes.append(contentsOf: ". ".utf8)
            case 1: bytes.append(contentsOf: ", ".utf8)
            default: bytes.append(column > 72 ? 0x0A : 0x20)
            }
            if column > 72 { column = 0 }
        }
        return Array(bytes.prefix(count))
    }

    /// A page of English-like text.
    static func text(seed: UInt64) -> TestPage {
        TestPage(name: "text(\(seed))", bytes: textBytes(count: pageSize, seed: seed))
    }

    /// Structured data as programs keep it in anonymous memory: 64-byte records
    /// of an increasing id, a pointer-like value sharing its high bits with its
    /// neighbours, small counters, a float and zero padding.
    static func structured(seed: UInt64) -> TestPage {
        var rng = SeededGenerator(seed: seed)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(pageSize + 64)
        let heapBase: UInt64 = 0x0000_7F00_0000_0000 | (rng.next() & 0x00FF_FFF0_0000)
        var id = rng.next() % 1_000_000
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        while bytes.count < pageSize {
            id += UInt64.random(in: 1...3, using: &rng)
            append(id)
            append(heapBase + UInt64.random(in: 0..<4096, using: &rng) * 16)
            append(UInt32.random(in: 0..<100, using: &rng))
            append(UInt32(1))
            append(Double(id).squareRoot().bitPattern)
            append(UInt16.random(in: 0..<8, using: &rng))
            bytes.append(contentsOf: repeatElement(0, count: 64 - 38))
        }
        return TestPage(name: "structured(\(seed))", bytes: Array(bytes.prefix(pageSize)))
    }

    /// Every generated kind, a few seeds each.
    static func generated() -> [TestPage] {
        [zero()]
            + (1...3).flatMap { seed in
                [random(seed: seed), text(seed: seed), structured(seed: seed)]
            }
    }

    /// Binaries and libraries to read real pages from; the first ones that
    /// exist on this machine are used.
    static let systemFileCandidates = [
        "/usr/bin/bash", "/usr/bin/ls", "/usr/bin/tar", "/usr/bin/perl", "/usr/bin/env",
        "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/aarch64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1",
        "/usr/lib64/libc.so.6", "/usr/lib/libc.so.6",
    ]

    /// The first `pagesPerFile` whole pages of each of the first `fileCount`
    /// readable candidate files (code, data, string tables, zeros), and how
    /// many files they came from.
    static func system(fileCount: Int = 4, pagesPerFile: Int = 64) -> (
        pages: [TestPage], files: Int
    ) {
        var pages: [TestPage] = []
        var filesUsed = 0
        for path in systemFileCandidates where filesUsed < fileCount {
            guard let handle = FileHandle(forReadingAtPath: path) else { continue }
            defer { try? handle.close() }
            guard let data = try? handle.read(upToCount: pagesPerFile * pageSize) else { continue }
            let whole = data.count / pageSize
            guard whole > 0 else { continue }
            filesUsed += 1
            let bytes = [UInt8](data)
            for index in 0..<whole {
                pages.append(
                    TestPage(
                        name: "\(path)#\(index)",
                        bytes: Array(bytes[index * pageSize..<(index + 1) * pageSize])))
            }
        }
        return (pages, filesUsed)
    }
}
