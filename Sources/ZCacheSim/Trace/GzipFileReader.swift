// The one place that reads a trace file's bytes: zlib's gz* interface, which
// inflates a gzip file as it reads and passes a plain file through unchanged
// (gzread's "transparent" mode), so both kinds stream through one small type.

import CZlib

/// Reads a plain or gzip-compressed file sequentially, in chunks.
final class GzipFileReader {
    let path: String
    private var file: gzFile?

    /// Opens `path` for reading.
    init(path: String) throws(TraceError) {
        self.path = path
        guard let file = gzopen(path, "rb") else {
            throw .unreadable(path, "cannot be opened")
        }
        // A larger internal buffer: fewer read(2) calls on long traces.
        _ = gzbuffer(file, 1 << 17)
        self.file = file
    }

    deinit {
        if let file { gzclose(file) }
    }

    /// Reads up to `buffer.count` bytes; 0 at the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TraceError) -> Int {
        guard let file, let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let count = gzread(file, base, UInt32(min(buffer.count, Int(Int32.max))))
        guard count >= 0 else {
            var code: Int32 = 0
            let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
            throw .unreadable(path, message)
        }
        return Int(count)
    }
}
