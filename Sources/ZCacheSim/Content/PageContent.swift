// Page contents as a pure function of (owner, page, version).
//
// The simulator never keeps a copy of what a page should hold: whenever it
// writes a page out or reads one back, it regenerates the expected bytes from
// the page's identity and its version, so every read is checked without
// storing the working set twice. Two sources:
//
//   built-in generator   needs no files; per (owner, page, version) a kind is
//                        drawn (zero, sparse, text-like, structured, random) and
//                        the page filled from a PRNG seeded by the same key.
//   corpus               real page dumps (4096-byte pages, concatenated); the key
//                        picks one corpus page.
//
// Every non-zero page carries a 16-byte stamp of its key at an offset drawn
// from the key, so a stale version or another page's contents never verifies.
// Zero pages stay all-zero (a stale zero page still holds the right bytes).

import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Identity of one version of one simulated page: the owner (a process or a
/// file), the page index within it, and the version (bumped by every write).
public struct PageKey: Hashable, Sendable {
    public var owner: UInt32
    public var page: UInt32
    public var version: UInt32

    public init(owner: UInt32, page: UInt32, version: UInt32) {
        self.owner = owner
        self.page = page
        self.version = version
    }

    /// A well-mixed 64-bit hash of the key and a seed.
    @inline(__always)
    func mixed(seed: UInt64) -> UInt64 {
        var h = seed &+ 0x9E37_79B9_7F4A_7C15
        h = splitMix(h ^ UInt64(owner))
        h = splitMix(h ^ (UInt64(page) << 20))
        h = splitMix(h ^ (UInt64(version) << 40))
        return h
    }
}

@inline(__always)
func splitMix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A small, fast PRNG (xorshift64*), seeded per page.
struct PagePRNG {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// A value in `0..<bound` (bound > 0).
    @inline(__always)
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Where simulated page contents come from. Thread-safe (immutable).
public struct PageContentSource: Sendable {
    /// The kinds of page the built-in generator produces.
    public enum Kind: String, Sendable, CaseIterable {
        case zero, sparse, text, structured, random
    }

    enum Storage: Sendable {
        case generator
        case corpus([UInt8], pages: Int)
    }

    let storage: Storage
    /// The seed every page's contents derive from.
    public let seed: UInt64

    /// The built-in generator: about 15% zero, 10% sparse, 35% text-like,
    /// 32% structured and 8% random (incompressible) pages.
    public static func generator(seed: UInt64) -> PageContentSource {
        PageContentSource(storage: .generator, seed: seed)
    }

    /// Contents drawn from real page dumps (`bytes.count` a non-zero multiple of 4096).
    public static func corpus(_ bytes: [UInt8], seed: UInt64) throws(ContentError)
        -> PageContentSource
    {
        guard !bytes.isEmpty, bytes.count % pageSize == 0 else {
            throw .corpusNotWholePages(bytes.count)
        }
        return PageContentSource(storage: .corpus(bytes, pages: bytes.count / pageSize), seed: seed)
    }

    /// Why a content source could not be made.
    public enum ContentError: Error, Sendable, Equatable, CustomStringConvertible {
        case corpusNotWholePages(Int)
        public var description: String {
            switch self {
            case .corpusNotWholePages(let n):
                "a corpus must hold at least one whole page; got \(n) bytes"
            }
        }
    }

    /// A short description for reports.
    public var name: String {
        switch storage {
        case .generator: "built-in generator (seed \(seed))"
        case .corpus(_, let pages): "corpus of \(pages) pages (seed \(seed))"
        }
    }

    /// The kind of page the generator produces for `key` (nil for a corpus).
    public func kind(of key: PageKey) -> Kind? {
        guard case .generator = storage else { return nil }
        return Self.kind(forDraw: key.mixed(seed: seed) >> 56)
    }

    static func kind(forDraw draw: UInt64) -> Kind {
        // draw is 0..<256
        switch draw {
        case 0..<38: .zero
        case 38..<64: .sparse
        case 64..<154: .text
        case 154..<236: .structured
        default: .random
        }
    }

    /// Writes the contents of `key` into `page` (exactly one page).
    public func fill(_ key: PageKey, into page: UnsafeMutableRawBufferPointer) {
        precondition(page.count == pageSize, "fill takes exactly one page")
        let h = key.mixed(seed: seed)
        switch storage {
        case .generator:
            var rng = PagePRNG(seed: h)
            switch Self.kind(forDraw: h >> 56) {
            case .zero:
                page.initializeMemory(as: UInt8.self, repeating: 0)
                return
            case .sparse: Self.fillSparse(page, &rng)
            case .text: Self.fillText(page, &rng)
            case .structured: Self.fillStructured(page, &rng)
            case .random: Self.fillRandom(page, &rng)
            }
        case .corpus(let bytes, let pages):
            let index = Int(h % UInt64(pages))
            bytes.withUnsafeBytes { all in
                page.copyMemory(
                    from: UnsafeRawBufferPointer(
                        rebasing: all[index * pageSize..<(index + 1) * pageSize]))
            }
            if Self.isZero(UnsafeRawBufferPointer(page)) { return }
        }
        stamp(key, hash: h, page)
    }

    /// True when `page` holds exactly the contents of `key`. `scratch` is one page.
    public func verify(
        _ key: PageKey, _ page: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard page.count == pageSize else { return false }
        fill(key, into: scratch)
        return Self.samePage(page, UnsafeRawBufferPointer(scratch))
    }

    /// Whether two one-page buffers hold the same bytes.
    @inline(__always)
    static func samePage(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return a.count == 0 }
        return memcmp(x, y, a.count) == 0
    }

    static func isZero(_ page: UnsafeRawBufferPointer) -> Bool {
        let words = page.bindMemory(to: UInt64.self)
        for w in words where w != 0 { return false }
        return true
    }

    private func stamp(_ key: PageKey, hash: UInt64, _ page: UnsafeMutableRawBufferPointer) {
        let offset = Int((hash >> 8) % UInt64(pageSize / 16)) * 16
        page.storeBytes(
            of: (UInt64(key.owner) << 32 | UInt64(key.page)).littleEndian,
            toByteOffset: offset, as: UInt64.self)
        page.storeBytes(
            of: (UInt64(key.version) << 32 | 0x5A43_5349).littleEndian,
            toByteOffset: offset + 8, as: UInt64.self)
    }

    // MARK: Generators

    /// Mostly zero, a few scattered words (a freshly touched heap, a bitmap).
    private static func fillSparse(_ page: UnsafeMutableRawBufferPointer, _ rng: inout PagePRNG) {
        page.initializeMemory(as: UInt8.self, repeating: 0)
        let words = page.bindMemory(to: UInt64.self)
        for _ in 0..<(4 + rng.below(24)) {
            words[rng.below(words.count)] = rng.next() & 0xFFFF_FFFF
        }
    }

    static let vocabulary: [[UInt8]] = [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "with", "was",
        "on", "be", "by", "this", "are", "from", "at", "or", "page", "memory", "swap",
        "cache", "kernel", "process", "value", "string", "object", "function", "return",
        "error", "count", "index", "buffer", "request", "response", "user", "name", "id",
        "\"type\":", "\"value\":", "null", "true", "false", "{", "}", "[", "],", "\n",
        "http://", "localhost", "2013-02-", "compressed", "frontswap", "cleancache",
    ].map { Array($0.utf8) }

    /// `vocabulary.count`, as a literal: a division by a constant is a multiply.
    private static var vocabularyCount: UInt64 { 56 }

    /// The vocabulary as the text generator copies it: each word in a 16-byte
    /// slot (two words of memory, zero-padded) written with two stores, and
    /// its length. Near the end of the page, where 16 bytes do not fit, the
    /// word is copied byte by byte from `vocabulary`.
    private static let vocabularySlots: (slots: [UInt64], lengths: [Int]) = {
        precondition(UInt64(vocabulary.count) == vocabularyCount, "update vocabularyCount")
        var slots: [UInt64] = []
        var lengths: [Int] = []
        for word in vocabulary {
            precondition(word.count <= 16, "a vocabulary word fits a 16-byte slot")
            let padded = word + [UInt8](repeating: 0, count: 16 - word.count)
            padded.withUnsafeBytes {
                slots.append($0.loadUnaligned(as: UInt64.self))
                slots.append($0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
            lengths.append(word.count)
        }
        return (slots, lengths)
    }()

    /// Words from a small vocabulary with numbers: logs, JSON, source text.
    /// The simulator's hottest loop (every swap-out fills a page, every
    /// swap-in fills one to verify against), so a word is two 8-byte stores
    /// whose padding the next word or space overwrites. `PageContentTests`
    /// checks it against the plain loop over `vocabulary`.
    static func fillText(_ page: UnsafeMutableRawBufferPointer, _ rng: inout PagePRNG) {
        guard let base = page.baseAddress else { return }
        let out = page.bindMemory(to: UInt8.self)
        let n = out.count
        let (slots, lengths) = vocabularySlots
        slots.withUnsafeBufferPointer { slots in
            lengths.withUnsafeBufferPointer { lengths in
                var i = 0
                while i < n {
                    let r = rng.next()
                    if r & 7 == 0 {
                        var v = (r >> 8) % 100_000
                        repeat {
                            if i < n {
                                out[i] = UInt8(48 + v % 10)
                                i += 1
                            }
                            v /= 10
                        } while v > 0
                    } else {
                        let w = Int((r >> 8) % vocabularyCount)
                        let count = lengths[w]
                        if n - i >= 16 {
                            (base + i).storeBytes(of: slots[2 * w], as: UInt64.self)
                            (base + i + 8).storeBytes(of: slots[2 * w + 1], as: UInt64.self)
                            i += count
                        } else {
                            for byte in vocabulary[w] where i < n {
                                out[i] = byte
                                i += 1
                            }
                        }
                    }
                    if i < n {
                        out[i] = 32
                        i += 1
                    }
                }
            }
        }
    }

    /// An array of records: pointers close together, small integers, flags,
    /// a hash-like field: typical heap objects.
    private static func fillStructured(_ page: UnsafeMutableRawBufferPointer, _ rng: inout PagePRNG)
    {
        let words = page.bindMemory(to: UInt64.self)
        let base: UInt64 = 0x0000_7F00_0000_0000 | (rng.next() & 0x00FF_FFFF_F000)
        let recordWords = 4 + rng.below(5)
        var pointer = base
        var counter = rng.next() & 0xFFFF
        let tag = rng.next() & 0xFF
        var w = 0
        while w < words.count {
            for field in 0..<recordWords where w < words.count {
                switch field {
                case 0: words[w] = 0x0001_0000_0000_0000 | tag  // header
                case 1:
                    pointer &+= UInt64(16 * (1 + rng.below(4)))
                    words[w] = pointer
                case 2:
                    counter &+= 1
                    words[w] = counter
                case 3: words[w] = rng.below(8) == 0 ? rng.next() : 0  // hash, often unset
                default: words[w] = UInt64(rng.below(4))
                }
                w += 1
            }
        }
    }

    /// Incompressible bytes (encrypted or already compressed data).
    private static func fillRandom(_ page: UnsafeMutableRawBufferPointer, _ rng: inout PagePRNG) {
        let words = page.bindMemory(to: UInt64.self)
        for w in 0..<words.count { words[w] = rng.next() }
    }
}
