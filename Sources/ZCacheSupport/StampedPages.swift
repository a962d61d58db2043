/// Pages that name themselves, for the model and stress tests that must say
/// what a wrong page holds. A page's first 8 bytes are its stamp
/// (little-endian); the rest follow from the stamp alone: runs of one byte,
/// 16 to 63 long (they compress), or random bytes (they do not) for the
/// stamps `isIncompressible` picks.
package struct StampedPages: Sendable {
    private let isIncompressible: @Sendable (UInt64) -> Bool

    /// Pages that compress, or random ones for the stamps `incompressibleWhen` picks.
    package init(incompressibleWhen: @escaping @Sendable (UInt64) -> Bool = { _ in false }) {
        isIncompressible = incompressibleWhen
    }

    /// The page of `stamp`.
    package func page(_ stamp: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: stamp)
        var page = [UInt8](repeating: 0, count: pageSize)
        if isIncompressible(stamp) {
            for i in 8..<pageSize { page[i] = UInt8(truncatingIfNeeded: rng.next()) }
        } else {
            var i = 8
            while i < pageSize {
                let run = Int(rng.next() % 48) + 16
                let byte = UInt8(truncatingIfNeeded: rng.next() % 7)
                for j in i..<min(pageSize, i + run) { page[j] = byte }
                i += run
            }
        }
        withUnsafeBytes(of: stamp.littleEndian) { page.replaceSubrange(0..<8, with: $0) }
        return page
    }

    /// What `bytes` holds: zeros (a swap slot never written), another stamped
    /// page whole, or bytes stamped as one but unlike it (a damaged page).
    package func describe(_ bytes: [UInt8]) -> String {
        if bytes.allSatisfy({ $0 == 0 }) { return "zeros (a slot never written)" }
        guard bytes.count >= 8 else { return "\(bytes.count) bytes" }
        let stamp = bytes.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))
        }
        let expected = page(stamp)
        if bytes == expected { return "page \(stamp), whole" }
        let differing = zip(bytes, expected).filter { $0 != $1 }.count
        return "bytes stamped \(stamp), \(differing) bytes unlike that page"
    }
}
