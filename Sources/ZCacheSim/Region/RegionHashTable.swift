import ZCacheSupport

/// An open-addressing hash table with linear probing, laid out in a raw
/// buffer (the region) as 64-byte slots:
///
///     slot: [ key: UInt64 (0 = empty) | value: 56 bytes ]
///
/// Keys are never 0. The table does not grow: the workload fills it to a
/// fixed load factor.
struct RegionHashTable {
    static let slotSize = 64
    static let valueSize = slotSize - 8

    let memory: UnsafeMutableRawBufferPointer
    let slots: Int

    init(_ memory: UnsafeMutableRawBufferPointer) {
        self.memory = memory
        slots = memory.count / Self.slotSize
    }

    /// The `i`-th key of a run: distinct for distinct `i`, never 0.
    static func key(_ i: Int, seed: UInt64) -> UInt64 {
        var z = UInt64(i) &+ seed &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        // splitmix's finaliser is a bijection; |1 would merge pairs, so map
        // the one zero output elsewhere instead.
        return z == 0 ? 0xFFFF_FFFF_FFFF_FFFF : z
    }

    /// Empties every slot (writes every page of the region once).
    func clear() {
        memory.initializeMemory(as: UInt8.self, repeating: 0)
    }

    func insert(key: UInt64, value: [UInt8]) {
        var slot = Int(key % UInt64(slots))
        while true {
            let offset = slot * Self.slotSize
            let existing = memory.load(fromByteOffset: offset, as: UInt64.self)
            if existing == 0 || existing == key {
                memory.storeBytes(of: key, toByteOffset: offset, as: UInt64.self)
                value.withUnsafeBytes { bytes in
                    UnsafeMutableRawBufferPointer(
                        rebasing: memory[offset + 8..<offset + Self.slotSize]
                    ).copyMemory(from: bytes)
                }
                return
            }
            slot = (slot + 1) % slots
        }
    }

    /// Copies the value of `key` into `value`; false when the key is absent.
    func lookup(key: UInt64, into value: inout [UInt8]) -> Bool {
        var slot = Int(key % UInt64(slots))
        while true {
            let offset = slot * Self.slotSize
            let existing = memory.load(fromByteOffset: offset, as: UInt64.self)
            if existing == 0 { return false }
            if existing == key {
                value.withUnsafeMutableBytes { bytes in
                    bytes.copyMemory(
                        from: UnsafeRawBufferPointer(
                            rebasing: memory[offset + 8..<offset + Self.slotSize]))
                }
                return true
            }
            slot = (slot + 1) % slots
        }
    }
}

/// The region's contents: corpus pages in order (cycling), or pages of the
/// built-in generator; and hash-table values cut from them.
struct RegionContents {
    private let corpus: [UInt8]
    private let generator: PageContentSource
    let name: String

    init(corpus: [UInt8], seed: UInt64) {
        self.corpus = corpus
        generator = .generator(seed: seed)
        name =
            corpus.isEmpty
            ? generator.name : "corpus of \(corpus.count / pageSize) pages, in order"
    }

    private var corpusPages: Int { corpus.count / pageSize }

    func fill(page: Int, into buffer: UnsafeMutableRawBufferPointer) {
        if corpus.isEmpty {
            generator.fill(PageKey(owner: 0, page: UInt32(page), version: 0), into: buffer)
        } else {
            let index = page % corpusPages
            corpus.withUnsafeBytes { all in
                buffer.copyMemory(
                    from: UnsafeRawBufferPointer(
                        rebasing: all[index * pageSize..<(index + 1) * pageSize]))
            }
        }
    }

    /// 56 bytes of a contents page chosen by the key, at an offset chosen by
    /// it, with the key's low byte folded into the first byte so that no two
    /// values are systematically equal.
    func value(forKey key: UInt64, into value: inout [UInt8]) {
        var page = [UInt8](repeating: 0, count: pageSize)
        let pages = corpus.isEmpty ? 4096 : corpusPages
        page.withUnsafeMutableBytes { fill(page: Int(key % UInt64(pages)), into: $0) }
        let offset = Int((key >> 32) % UInt64(pageSize - RegionHashTable.valueSize))
        for i in 0..<RegionHashTable.valueSize { value[i] = page[offset + i] }
        value[0] ^= UInt8(truncatingIfNeeded: key)
    }
}
