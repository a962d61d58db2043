// The small values that name things in ZBud: a bud reference, the owner handle
// stored in front of each bud, and the class of a ZBud. (The frame number,
// `PageFrameNumber`, lives in the PageFrames module.)

import PageFrames

/// A reference to one bud: a frame number and a bud bit, like the kernel's `zbudref`.
///
/// `rawValue` is `frame << 1 | bud`, small enough to serve as TMem's opaque handle.
public struct ZBudRef: Hashable, Sendable, CustomStringConvertible {
    /// `frame.rawValue << 1 | bud`.
    public let rawValue: UInt32

    /// Rebuilds a reference from its `rawValue`.
    @inline(__always)
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The reference to bud `bud` (0 or 1) of `frame`.
    @inline(__always)
    public init(frame: PageFrameNumber, bud: Int) {
        precondition(bud == 0 || bud == 1, "a frame has buds 0 and 1")
        precondition(frame.rawValue < 1 << 31, "frame number too large for a ZBudRef")
        rawValue = frame.rawValue << 1 | UInt32(bud)
    }

    /// The frame holding the bud.
    @inline(__always)
    public var frame: PageFrameNumber { PageFrameNumber(rawValue: rawValue >> 1) }

    /// 0 (starts at the frame's first byte) or 1 (ends at its last byte).
    @inline(__always)
    public var bud: Int { Int(rawValue & 1) }

    public var description: String { "bud \(bud) of frame \(rawValue >> 1)" }
}

/// The 32-byte tmem handle stored in front of each bud's data, so that an
/// evictor holding only a frame can find the tmem entries that point into it.
///
/// ZBud does not interpret it; ZCache packs pool, object id and index into it.
public struct BudOwner: Hashable, Sendable {
    public var w0: UInt64
    public var w1: UInt64
    public var w2: UInt64
    public var w3: UInt64

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }
}

/// Which class of tmem pages a `ZBud` holds; each class has its own lists and lock.
public enum ZBudClass: String, Sendable, Codable, CaseIterable {
    /// Cleancache pages: frames may be evicted whole (`evictLRU`).
    case ephemeral
    /// Frontswap pages: frames are written back through zombies (`zombifyLRU`).
    case persistent
}
