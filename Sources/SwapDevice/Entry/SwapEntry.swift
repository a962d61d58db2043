// A swap entry: which swap device (type) and which page slot on it (offset).

/// The kernel's `swp_entry_t`: a swap device number and a slot on it.
///
/// Slot `offset` of a device lives at byte `offset * 4096` of its swap file; slot 0
/// holds the header and is never handed out.
public struct SwapEntry: Hashable, Sendable, CustomStringConvertible {
    /// The number of swap devices the kernel allowed (`MAX_SWAPFILES`).
    public static let maxSwapFiles = 32

    /// The swap device number, `0..<32`.
    public let type: Int
    /// The slot on that device.
    public let offset: UInt64

    /// An entry, or `nil` when `type` is outside `0..<32`.
    public init?(type: Int, offset: UInt64) {
        guard (0..<Self.maxSwapFiles).contains(type) else { return nil }
        self.type = type
        self.offset = offset
    }

    public var description: String { "swp(\(type):\(offset))" }
}
