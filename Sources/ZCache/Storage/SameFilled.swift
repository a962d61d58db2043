// Same-filled pages (zram's `same_pages`): a page that is one 8-byte word
// repeated is stored as that word, in no allocator. The zero page is the
// common case and needs no table (word slot 0); other words are interned in
// `SameFilledWords`, reference counted, so the 64-bit TMem handle can name
// them by slot (see `ZPageHandle`).

import ZCacheSupport

/// The non-zero words of stored same-filled pages, by slot (1...), counted.
final class SameFilledWords: @unchecked Sendable {
    private let lock = Lock()
    // Guarded by `lock`.
    private var slotOfWord: [UInt64: Int] = [:]
    /// words[slot - 1], references[slot - 1]; a slot with 0 references is free.
    private var words: [UInt64] = []
    private var references: [Int] = []
    private var freeSlots: [Int] = []

    /// A slot naming `word` (0 for zero), one reference taken; nil when every
    /// slot is in use (the page is then compressed like any other).
    func retain(_ word: UInt64) -> Int? {
        if word == 0 { return 0 }
        return lock.withLock {
            if let slot = slotOfWord[word] {
                references[slot - 1] += 1
                return slot
            }
            let slot: Int
            if let reused = freeSlots.popLast() {
                slot = reused
                words[slot - 1] = word
                references[slot - 1] = 1
            } else {
                guard words.count < ZPageHandle.sameFilledSlots else { return nil }
                words.append(word)
                references.append(1)
                slot = words.count
            }
            slotOfWord[word] = slot
            return slot
        }
    }

    /// The word of a live slot.
    func word(_ slot: Int) -> UInt64 {
        if slot == 0 { return 0 }
        return lock.withLock { words[slot - 1] }
    }

    /// Drops one reference to `slot`.
    func release(_ slot: Int) {
        if slot == 0 { return }
        lock.withLock {
            references[slot - 1] -= 1
            precondition(references[slot - 1] >= 0, "same-filled slot \(slot) released too often")
            if references[slot - 1] == 0 {
                slotOfWord[words[slot - 1]] = nil
                freeSlots.append(slot)
            }
        }
    }

    /// Distinct non-zero words stored now.
    var distinctWords: Int { lock.withLock { slotOfWord.count } }

    /// Bytes of the table, from its capacities.
    var metadataBytes: Int {
        lock.withLock {
            slotOfWord.capacity * (MemoryLayout<UInt64>.stride + MemoryLayout<Int>.stride)
                + words.capacity * MemoryLayout<UInt64>.stride
                + references.capacity * MemoryLayout<Int>.stride
                + freeSlots.capacity * MemoryLayout<Int>.stride
        }
    }
}

/// The word a page repeats, or nil when it is not one word repeated (zram's
/// `page_same_filled`). The zero page gives 0.
@inline(__always)
func sameFilledWord(_ page: UnsafeRawBufferPointer) -> UInt64? {
    guard let base = page.baseAddress, page.count % 64 == 0, page.count > 0 else { return nil }
    let word = base.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
    let words = page.count / 8
    var difference: UInt64 = 0
    var index = 0
    // Eight words per step, checked once per step: cheap on ordinary pages
    // (which almost always differ in the first 64 bytes) and fast on filled ones.
    while index < words {
        for offset in 0..<8 {
            difference |=
                base.loadUnaligned(fromByteOffset: (index + offset) * 8, as: UInt64.self) ^ word
        }
        if difference != 0 { return nil }
        index += 8
    }
    return word
}

/// Fills `page` with `word` repeated (zram's `zram_fill_page`).
@inline(__always)
func fill(_ page: UnsafeMutableRawBufferPointer, with word: UInt64) {
    guard let base = page.baseAddress else { return }
    if word == 0 {
        page.initializeMemory(as: UInt8.self, repeating: 0)
        return
    }
    for offset in stride(from: 0, to: page.count - 7, by: 8) {
        base.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
    }
}
