// A trace made ready to drive the simulated host: a first pass numbers its
// distinct pages densely (first touch order) and counts its references; the
// host then replays it, reference by reference, from the file again.
//
//   address trace -> one process's anonymous pages 0..<distinct; loads read,
//                    stores write (a new version of the page)
//   lirs trace    -> the pages 0..<distinct of one file, read through the
//                    page cache and cleancache
//
// Memory: the page numbering (one dictionary entry per distinct page), never
// the references.

/// What a trace's first pass found.
public struct TraceSummary: Sendable, Equatable, Codable {
    public var path: String
    public var format: TraceFormat
    /// References (markers and blank lines not counted).
    public var references: Int
    /// Stores among them (address traces).
    public var writes: Int
    /// Distinct pages (address >> 12) or blocks.
    public var distinctPages: Int

    enum CodingKeys: String, CodingKey {
        case path, format, references, writes, distinctPages = "distinct_pages"
    }
}

/// A scanned trace: its summary and dense page numbers. Immutable, shared by
/// every run over it.
public final class TraceWorkload: Sendable {
    public let summary: TraceSummary
    /// Page or block number -> dense index 0..<distinctPages.
    let pageIndex: [UInt64: Int32]

    /// Reads the whole trace once (streaming). Throws on a malformed line, an
    /// unreadable file, a trace without references, or more distinct pages
    /// than the host can number.
    public init(path: String, format: TraceFormat? = nil) throws(TraceError) {
        let reader = try TraceReader(path: path, format: format)
        var pageIndex: [UInt64: Int32] = [:]
        var references = 0
        var writes = 0
        while let reference = try reader.next() {
            references += 1
            if reference.isWrite { writes += 1 }
            if pageIndex[reference.page] == nil {
                guard pageIndex.count < Int(Int32.max) / 2 else {
                    throw .unreadable(path, "more distinct pages than the simulator can number")
                }
                pageIndex[reference.page] = Int32(pageIndex.count)
            }
        }
        guard references > 0 else { throw .empty(path) }
        self.pageIndex = pageIndex
        summary = TraceSummary(
            path: path, format: reader.format, references: references, writes: writes,
            distinctPages: pageIndex.count)
    }

    /// A fresh pass over the references, as dense page indexes.
    func replay() throws(TraceError) -> TraceReplay {
        TraceReplay(
            reader: try TraceReader(path: summary.path, format: summary.format), workload: self)
    }
}

/// One replay of a scanned trace. Not thread-safe (the host's thread).
final class TraceReplay {
    let reader: TraceReader
    let workload: TraceWorkload
    /// Set when the file stopped reading as it did in the first pass; the
    /// replay then ends early and the run reports the error.
    private(set) var error: TraceError?

    init(reader: TraceReader, workload: TraceWorkload) {
        self.reader = reader
        self.workload = workload
    }

    /// The next reference as (dense page index, is a write), or nil at the end.
    @inline(__always)
    func next() -> (page: Int, isWrite: Bool)? {
        guard error == nil else { return nil }
        do {
            guard let reference = try reader.next() else { return nil }
            guard let index = workload.pageIndex[reference.page] else {
                error = .changed(workload.summary.path)
                return nil
            }
            return (Int(index), reference.isWrite)
        } catch {
            self.error = .changed(workload.summary.path)
            return nil
        }
    }
}
