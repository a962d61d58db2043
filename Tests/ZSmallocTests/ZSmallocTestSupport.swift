import PageFrames
import XCTest
import ZCacheSupport

@testable import ZSmalloc

/// Object bytes for `id`: a SplitMix64 stream, so an object read from the
/// wrong place, or with bytes of a neighbour, does not match.
func objectBytes(id: UInt64, count: Int) -> [UInt8] {
    var rng = SplitMix64(seed: id &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(count))
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = rng.next()
        for _ in 0..<min(8, count - i) {
            bytes[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return bytes
}

extension ZSmalloc {
    func store(_ bytes: [UInt8]) throws(ZSmallocError) -> ZsHandle {
        let result: Result<ZsHandle, ZSmallocError> = bytes.withUnsafeBytes { buffer in
            do throws(ZSmallocError) { return .success(try store(buffer)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The object's `count` bytes, or nil when `read` refuses.
    func readBytes(_ handle: ZsHandle, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBytes { read(handle, size: count, into: $0) }
        return ok ? bytes : nil
    }

    func readAndFreeBytes(_ handle: ZsHandle, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBytes { readAndFree(handle, size: count, into: $0) }
        return ok ? bytes : nil
    }

    /// Whether the object `handle` names crosses from one frame into the next.
    func crossesFrames(_ handle: ZsHandle, dataSize: Int) -> Bool {
        let sizeClass = sizeClass(of: handle)!
        return sizeClass.lock.withLock {
            let entry = sizeClass.handles[handle.slot]
            let header = sizeClass.info.isHuge ? 0 : Self.headerSize
            return HandleEntry.offset(entry) + header + dataSize > pageSize
        }
    }
}
