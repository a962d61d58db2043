// The name of one pageframe of a `PageFramePool`: the value every allocator
// (ZBud, ZSmalloc) and ZCache use to talk about frames.

/// The number of one 4096-byte frame in a `PageFramePool`.
public struct PageFrameNumber: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The frame's index in its pool, `0..<frameCount`.
    public let rawValue: UInt32

    /// Names frame `rawValue` (below 2^31, so that a `ZBudRef` can carry it).
    @inline(__always)
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "frame \(rawValue)" }
}
