import TMem

/// Frontswap's key swizzling (zcache's `oswiz` / `iswiz`): one persistent pool
/// holds every swap type; the low 8 bits of the swap offset go into the object
/// id beside the type, the rest becomes the page index, so 256 consecutive
/// slots spread over 256 objects.
///
///     oid.a = (type << 8) | (offset & 0xff)      index = offset >> 8
public enum FrontswapKey {
    /// Bits of the offset kept in the object id (`SWIZ_BITS`).
    public static let swizzleBits = 8
    /// Swap types are 0..<32 (5 bits, as `MAX_SWAPFILES_SHIFT`).
    public static let maxSwapTypes = 32
    /// Offsets must fit in 32 index bits plus the swizzled ones.
    public static let maxOffset: UInt64 = (1 << (32 + 8)) - 1

    /// The object id and index for a swap entry. `nil` when type or offset is out of range.
    public static func swizzle(type: Int, offset: UInt64) -> (object: ObjectID, index: UInt32)? {
        guard (0..<maxSwapTypes).contains(type), offset <= maxOffset else { return nil }
        let a = UInt64(type) << swizzleBits | (offset & 0xff)
        return (ObjectID(a), UInt32(truncatingIfNeeded: offset >> swizzleBits))
    }

    /// The swap entry for an object id and index: the inverse of `swizzle`,
    /// used by writeback to find where a zombie bud goes.
    public static func unswizzle(object: ObjectID, index: UInt32) -> (type: Int, offset: UInt64) {
        (Int(object.a >> swizzleBits), UInt64(index) << swizzleBits | (object.a & 0xff))
    }
}
