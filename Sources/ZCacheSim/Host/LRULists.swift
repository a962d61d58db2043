// The host's four LRU lists, as intrusive doubly linked lists over page ids.
//
//   activeAnon   inactiveAnon   activeFile   inactiveFile
//   head = most recently added, tail = next to scan (reclaim and demotion
//   take from the tail, as the kernel's isolate_lru_pages does).
//
// Every page id is on at most one list. Links are Int32 page ids (-1 = none),
// so moving a page is O(1) and nothing allocates after setup.

/// Which LRU list a page is on.
public enum LRUList: UInt8, Sendable, CaseIterable {
    case activeAnon, inactiveAnon, activeFile, inactiveFile

    /// The other list of the same type (active <-> inactive).
    var isActive: Bool { self == .activeAnon || self == .activeFile }
}

/// Four intrusive LRU lists over page ids `0..<capacity`.
struct LRULists {
    private var prev: [Int32]
    private var next: [Int32]
    /// The list a page is on, or `notOnList`.
    private(set) var membership: [UInt8]
    private var heads = [Int32](repeating: -1, count: 4)
    private var tails = [Int32](repeating: -1, count: 4)
    private(set) var counts = [Int](repeating: 0, count: 4)

    static let notOnList: UInt8 = 0xFF

    init(capacity: Int) {
        prev = .init(repeating: -1, count: capacity)
        next = .init(repeating: -1, count: capacity)
        membership = .init(repeating: Self.notOnList, count: capacity)
    }

    func count(_ list: LRUList) -> Int { counts[Int(list.rawValue)] }

    func list(of page: Int) -> LRUList? { LRUList(rawValue: membership[page]) }

    /// Adds `page` (on no list) at the head of `list`.
    mutating func addHead(_ page: Int, to list: LRUList) {
        precondition(membership[page] == Self.notOnList, "page \(page) already on an LRU list")
        let l = Int(list.rawValue)
        let p = Int32(page)
        prev[page] = -1
        next[page] = heads[l]
        if heads[l] >= 0 { prev[Int(heads[l])] = p } else { tails[l] = p }
        heads[l] = p
        membership[page] = list.rawValue
        counts[l] += 1
    }

    /// Removes `page` from whatever list it is on (no-op if none).
    mutating func remove(_ page: Int) {
        let m = membership[page]
        guard m != Self.notOnList else { return }
        let l = Int(m)
        let p = prev[page]
        let n = next[page]
        if p >= 0 { next[Int(p)] = n } else { heads[l] = n }
        if n >= 0 { prev[Int(n)] = p } else { tails[l] = p }
        prev[page] = -1
        next[page] = -1
        membership[page] = Self.notOnList
        counts[l] -= 1
    }

    /// Moves `page` to the head of `list`.
    mutating func moveToHead(_ page: Int, of list: LRUList) {
        remove(page)
        addHead(page, to: list)
    }

    /// The page at the tail (least recently added) of `list`.
    func tail(_ list: LRUList) -> Int? {
        let t = tails[Int(list.rawValue)]
        return t >= 0 ? Int(t) : nil
    }

    /// Walks every list and checks links, membership and counts. In every
    /// build, so that tests can call it whatever the build flags.
    func checkInvariants() -> Bool {
        var seen = 0
        for list in LRUList.allCases {
            var n = 0
            var page = heads[Int(list.rawValue)]
            var last: Int32 = -1
            while page >= 0 {
                guard membership[Int(page)] == list.rawValue, prev[Int(page)] == last else {
                    return false
                }
                last = page
                page = next[Int(page)]
                n += 1
            }
            guard n == counts[Int(list.rawValue)], last == tails[Int(list.rawValue)] else {
                return false
            }
            seen += n
        }
        return seen == membership.lazy.filter { $0 != Self.notOnList }.count
    }
}
