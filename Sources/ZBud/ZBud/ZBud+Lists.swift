// Intrusive doubly linked lists of frames, by index, in preallocated arrays.
//
// Nodes 0..<nodeCount are frames; node nodeCount + k is the sentinel head of
// list k. A frame is on at most one list of a given `IndexLists` (ZBud keeps
// two: the bud lists and the LRU/zombie lists). `none` marks "on no list".
// Appending goes at the tail (the most recent end); `first` is the oldest.
// Not thread-safe: ZBud uses them under its class lock.

/// A set of intrusive doubly linked lists over node indices.
struct IndexLists {
    static let none = UInt32.max

    let nodeCount: Int
    let listCount: Int
    private let prev: UnsafeMutablePointer<UInt32>
    private let next: UnsafeMutablePointer<UInt32>

    init(nodeCount: Int, listCount: Int) {
        self.nodeCount = nodeCount
        self.listCount = listCount
        let total = nodeCount + listCount
        prev = .allocate(capacity: total)
        next = .allocate(capacity: total)
        prev.initialize(repeating: Self.none, count: nodeCount)
        next.initialize(repeating: Self.none, count: nodeCount)
        for k in 0..<listCount {
            let head = UInt32(nodeCount + k)
            (prev + Int(head)).initialize(to: head)
            (next + Int(head)).initialize(to: head)
        }
    }

    func deallocate() {
        prev.deallocate()
        next.deallocate()
    }

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

    /// The members of `list`, oldest first, after checking its links both ways.
    func members(_ list: Int) -> [Int] {
        var result: [Int] = []
        var previous = head(list)
        var node = Int(next[previous])
        while node != head(list) {
            precondition(node < nodeCount, "list \(list) links to another list's head")
            precondition(Int(prev[node]) == previous, "list \(list): broken back link at \(node)")
            precondition(result.count < nodeCount, "list \(list) has a cycle")
            result.append(node)
            previous = node
            node = Int(next[node])
        }
        precondition(Int(prev[head(list)]) == previous, "list \(list): broken tail link")
        return result
    }
}
