// Intrusive doubly linked lists of frames, by index, in arrays reserved for
// the pool's maximum but committed only where used.
//
// Nodes 0..<nodeCount are frames; node nodeCount + k is the sentinel head of
// list k. A frame is on at most one list of a given `IndexLists` (ZBud keeps
// two: the bud lists and the LRU/zombie lists). `none` marks "on no list".
// Appending goes at the tail (the most recent end); `first` is the oldest.
// Not thread-safe: ZBud uses them under its class lock.

import PageFrames

/// A set of intrusive doubly linked lists over node indices.
struct IndexLists {
    static let none = UInt32.max

    let nodeCount: Int
    let listCount: Int
    /// The links live in a lazily committed region (zero bytes cost nothing
    /// until written), stored complemented so that an all-zero link is `none`:
    /// the untouched part of a large pool's arrays reads as "on no list".
    /// Held unmanaged, so that copying the lists costs no reference counting;
    /// released by `deallocate`.
    private let region: Unmanaged<ReservedRegion>
    private let prevLinks: UnsafeMutablePointer<UInt32>
    private let nextLinks: UnsafeMutablePointer<UInt32>

    init(nodeCount: Int, listCount: Int) {
        self.nodeCount = nodeCount
        self.listCount = listCount
        let total = nodeCount + listCount
        let (region, links) = ReservedRegion.array(of: UInt32.self, count: 2 * total)
        self.region = .passRetained(region)
        prevLinks = links
        nextLinks = links + total
        for k in 0..<listCount {
            let head = UInt32(nodeCount + k)
            prev[Int(head)] = head
            next[Int(head)] = head
        }
    }

    /// Unmaps the links; the owner calls it once, from its deinit.
    func deallocate() { region.release() }

    /// Bytes of the links resident now (`mincore`).
    var residentBytes: Int { region.takeUnretainedValue().residentBytes() }

    /// Link accessors that hide the complemented storage.
    struct Links {
        let storage: UnsafeMutablePointer<UInt32>
        @inline(__always)
        subscript(node: Int) -> UInt32 {
            get { ~storage[node] }
            nonmutating set { storage[node] = ~newValue }
        }
    }
    @inline(__always)
    private var prev: Links { Links(storage: prevLinks) }
    @inline(__always)
    private var next: Links { Links(storage: nextLinks) }

    @inline(__always)
    private func head(_ list: Int) -> Int { nodeCount + list }

    /// Whether `node` is on some list.
    @inline(__always)
    func isLinked(_ node: Int) -> Bool { next[node] != Self.none }

    @inline(__always)
    func isEmpty(_ list: Int) -> Bool { next[head(list)] == UInt32(head(list)) }

    /// The oldest node of `list`.
    @inline(__always)
    func first(_ list: Int) -> Int? {
        let n = Int(next[head(list)])
        return n == head(list) ? nil : n
    }

    /// The node after `node` on its list, or nil at the tail.
    @inline(__always)
    func after(_ node: Int) -> Int? {
        let n = Int(next[node])
        return n >= nodeCount ? nil : n
    }

    /// Puts `node` (on no list) at the tail of `list`.
    @inline(__always)
    func append(_ node: Int, to list: Int) {
        assert(!isLinked(node), "node already on a list")
        let h = head(list)
        let last = Int(prev[h])
        prev[node] = UInt32(last)
        next[node] = UInt32(h)
        next[last] = UInt32(node)
        prev[h] = UInt32(node)
    }

    /// Takes `node` off its list.
    @inline(__always)
    func remove(_ node: Int) {
        assert(isLinked(node), "node on no list")
        let p = Int(prev[node])
        let n = Int(next[node])
        next[p] = UInt32(n)
        prev[n] = UInt32(p)
        prev[node] = Self.none
        next[node] = Self.none
    }

    /// Moves `node` (on some list) to the tail of `list`.
    @inline(__always)
    func moveToTail(_ node: Int, of list: Int) {
        remove(node)
        append(node, to: list)
    }

    /// Calls `body` with each member of `list`, oldest first, after checking
    /// its links both ways; returns the number of members.
    @discardableResult
    func forEachMember(of list: Int, _ body: (Int) -> Void) -> Int {
        let listHead = nodeCount + list
        var count = 0
        var previous = listHead
        var node = Int(next[previous])
        while node != listHead {
            precondition(node < nodeCount, "list \(list) links to another list's head")
            precondition(Int(prev[node]) == previous, "list \(list): broken back link at \(node)")
            precondition(count < nodeCount, "list \(list) has a cycle")
            body(node)
            count += 1
            previous = node
            node = Int(next[node])
        }
        precondition(Int(prev[listHead]) == previous, "list \(list): broken tail link")
        return count
    }
}
