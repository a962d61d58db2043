import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A one-line progress bar, redrawn in place (only on a terminal).
final class ProgressBar {
    let label: String
    var lastPercent = -1
    init(label: String) { self.label = label }

    func show(_ done: Int, _ total: Int) {
        let percent = total == 0 ? 100 : done * 100 / total
        guard percent != lastPercent else { return }
        lastPercent = percent
        let filled = percent * 40 / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 40 - filled)
        print("\r\(label) [\(bar)] \(percent)%", terminator: "")
        fflush(nil)
    }

    func clear() {
        print("\r" + String(repeating: " ", count: label.count + 50) + "\r", terminator: "")
        fflush(nil)
    }
}
