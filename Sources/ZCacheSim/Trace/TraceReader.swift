// Real access traces, read as a stream: one reference at a time, never the
// whole file in memory.
//
//   file (plain or .gz) --GzipFileReader--> 128 KiB chunks
//        --TraceReader--> lines (numbered from 1) --format--> TraceReference
//
//   address   `l 0x1fffff58 1` / `s 0x1fffff50 3`: load or store, byte address
//             in hex (0x optional), then an optional count of instructions
//             since the previous access (checked, not used). page = address >> 12
//   lirs      one block number a line, in decimal; a line `*` is a checkpoint
//             marker, not a reference. page = the block number
//
// Blank lines are skipped in both formats. Any other line that does not parse
// is an error naming the file, the line number and the line. Without an
// explicit format, the first non-blank line decides: `l`/`s` and a space ->
// address; a digit or `*` -> lirs.
//
// `TraceWorkload` (TraceWorkload.swift) reads a trace twice: once to number
// its distinct pages densely and count them (the simulated RAM is a fraction
// of that), then again to replay it through the simulated host.

/// The two trace formats.
public enum TraceFormat: String, Sendable, Codable, CaseIterable {
    /// Memory accesses of a program (anonymous memory): `l|s 0xADDR [n]`.
    case address
    /// Block references of the LIRS paper (file pages): a number a line, `*` markers.
    case lirs
}

/// One reference of a trace.
public struct TraceReference: Sendable, Equatable {
    /// The page (address >> 12) or block number.
    public var page: UInt64
    /// A store (address traces); loads and block references read.
    public var isWrite: Bool

    public init(page: UInt64, isWrite: Bool) {
        self.page = page
        self.isWrite = isWrite
    }
}

/// Why a trace cannot be used. One line each.
public enum TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String, String)
    case malformed(String, line: Int, text: String, format: TraceFormat)
    case unknownFormat(String, line: Int, text: String)
    case empty(String)
    /// The file no longer reads as it did when it was first scanned.
    case changed(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let why): "trace \(path): \(why)"
        case .malformed(let path, let line, let text, let format):
            "trace \(path):\(line): not a line of a \(format) trace "
                + "(expected \(format == .address ? "`l|s 0xADDR [n]`" : "a block number or `*`")): "
                + "\"\(text)\""
        case .unknownFormat(let path, let line, let text):
            "trace \(path):\(line): cannot tell the format from \"\(text)\" "
                + "(give --trace-format address|lirs)"
        case .empty(let path): "trace \(path): no references"
        case .changed(let path): "trace \(path): changed while it was being replayed"
        }
    }
}

/// Reads the references of one trace file in order.
public final class TraceReader {
    public let path: String
    public let format: TraceFormat
    /// The number of the line last read (1-based).
    public private(set) var lineNumber = 0

    private let file: GzipFileReader
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atEnd = false

    /// Lines longer than this are malformed (no format needs more than ~40 bytes).
    static let maxLineLength = 4096
    static let chunkSize = 1 << 17

    /// Opens a trace; with no format, guesses it from the first non-blank line.
    public init(path: String, format: TraceFormat? = nil) throws(TraceError) {
        // Everything that can fail comes before the buffer is allocated.
        if let format {
            self.format = format
        } else {
            self.format = try TraceReader(path: path, format: .lirs).guessFormat()
        }
        self.path = path
        file = try GzipFileReader(path: path)
        buffer = .allocate(byteCount: Self.chunkSize + Self.maxLineLength, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The next reference, or nil at the end of the trace.
    public func next() throws(TraceError) -> TraceReference? {
        while let line = try nextLine() {
            if let reference = try parse(line) { return reference }
        }
        return nil
    }

    // MARK: Lines

    /// The next line without its newline (and carriage return), or nil at the end.
    private func nextLine() throws(TraceError) -> UnsafeRawBufferPointer? {
        while true {
            let pending = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lineNumber += 1
                var line = UnsafeRawBufferPointer(rebasing: pending[..<newline])
                start += newline - pending.startIndex + 1
                if line.last == UInt8(ascii: "\r") {
                    line = UnsafeRawBufferPointer(rebasing: line.dropLast())
                }
                return line
            }
            if atEnd {
                guard start < end else { return nil }
                lineNumber += 1
                let line = pending
                start = end
                return line
            }
            guard end - start <= Self.maxLineLength else {
                throw .malformed(
                    path, line: lineNumber + 1, text: Self.text(pending.prefix(40)) + "...",
                    format: format)
            }
            // Move the partial line to the front and read more behind it.
            let partial = end - start
            if partial > 0, start > 0, let base = buffer.baseAddress {
                base.copyMemory(from: base + start, byteCount: partial)
            }
            start = 0
            end = partial
            let read = try file.read(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[end..<(end + Self.chunkSize)]))
            if read == 0 { atEnd = true }
            end += read
        }
    }

    static func text(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes.prefix(80), as: UTF8.self)
    }

    // MARK: Parsing

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// The line's reference, nil for a blank line or a marker.
    private func parse(_ line: UnsafeRawBufferPointer) throws(TraceError) -> TraceReference? {
        var cursor = LineCursor(line)
        cursor.skipSpaces()
        guard !cursor.atEnd else { return nil }
        switch format {
        case .address:
            let kind = cursor.take()
            guard kind == UInt8(ascii: "l") || kind == UInt8(ascii: "s"), cursor.skipSpaces() > 0,
                let address = cursor.hexNumber()
            else { throw malformed(line) }
            if cursor.skipSpaces() > 0, !cursor.atEnd {
                guard cursor.decimalNumber() != nil else { throw malformed(line) }
                cursor.skipSpaces()
            }
            guard cursor.atEnd else { throw malformed(line) }
            return TraceReference(page: address >> 12, isWrite: kind == UInt8(ascii: "s"))
        case .lirs:
            if cursor.peek() == UInt8(ascii: "*") {
                _ = cursor.take()
                cursor.skipSpaces()
                guard cursor.atEnd else { throw malformed(line) }
                return nil
            }
            guard let block = cursor.decimalNumber() else { throw malformed(line) }
            cursor.skipSpaces()
            guard cursor.atEnd else { throw malformed(line) }
            return TraceReference(page: block, isWrite: false)
        }
    }

    private func malformed(_ line: UnsafeRawBufferPointer) -> TraceError {
        .malformed(path, line: lineNumber, text: Self.text(line), format: format)
    }

    /// Reads to the first non-blank line and names its format.
    private func guessFormat() throws(TraceError) -> TraceFormat {
        while let line = try nextLine() {
            var cursor = LineCursor(line)
            cursor.skipSpaces()
            guard let first = cursor.peek() else { continue }
            if first == UInt8(ascii: "l") || first == UInt8(ascii: "s") {
                _ = cursor.take()
                if let next = cursor.peek(), Self.isSpace(next) { return .address }
            } else if first == UInt8(ascii: "*")
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
            {
                return .lirs
            }
            throw .unknownFormat(path, line: lineNumber, text: Self.text(line))
        }
        throw .empty(path)
    }
}

/// A read position in one line.
struct LineCursor {
    let line: UnsafeRawBufferPointer
    var index: Int

    init(_ line: UnsafeRawBufferPointer) {
        self.line = line
        index = line.startIndex
    }

    var atEnd: Bool { index >= line.endIndex }

    func peek() -> UInt8? { atEnd ? nil : line[index] }

    mutating func take() -> UInt8? {
        guard !atEnd else { return nil }
        defer { index += 1 }
        return line[index]
    }

    /// Skips blanks; returns how many.
    @discardableResult
    mutating func skipSpaces() -> Int {
        let begin = index
        while !atEnd, TraceReader.isSpace(line[index]) { index += 1 }
        return index - begin
    }

    /// A hex number with an optional 0x; nil when there is no digit or it overflows.
    mutating func hexNumber() -> UInt64? {
        if index + 1 < line.endIndex, line[index] == UInt8(ascii: "0"),
            line[index + 1] | 0x20 == UInt8(ascii: "x")
        {
            index += 2
        }
        var value: UInt64 = 0
        var digits = 0
        while !atEnd {
            let byte = line[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default:
                return digits > 0 && (TraceReader.isSpace(byte)) ? value : nil
            }
            guard value >> 60 == 0 else { return nil }
            value = value << 4 | UInt64(digit)
            digits += 1
            index += 1
        }
        return digits > 0 ? value : nil
    }

    /// A decimal number; nil when there is no digit, it overflows, or a
    /// non-blank byte follows it.
    mutating func decimalNumber() -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while !atEnd {
            let byte = line[index]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                return digits > 0 && TraceReader.isSpace(byte) ? value : nil
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            digits += 1
            index += 1
        }
        return digits > 0 ? value : nil
    }
}
