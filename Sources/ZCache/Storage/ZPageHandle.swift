import TMem
import ZBud

/// What TMem stores for each page: the zcache "pampd". Either a same-filled
/// sentinel (no memory in any allocator) or an allocator's handle, with its
/// class and compressed size.
///
///     same-filled sentinel             stored in an allocator
///     bit  63     1                    bit  63     0
///     bit  61     1 (never null)       bit  62     persistent class
///     bits 40-60  word slot            bit  61     1 (never null)
///                 (0: the zero page)   bits 48-60  compressed size (0...4096)
///     bits 0-39   tag                  bits 0-31   allocator handle
///                                                  (ZBudRef or ZsHandle)
///
/// The 64 bits are kept as a never-null pointer bit pattern (never
/// dereferenced): Swift then stores `ZPageHandle?` in 8 bytes, using the null
/// pattern for nil, so each slot of TMem's page maps is 16 bytes instead of
/// 24, a third of the per-page metadata. Bit 61 keeps every pattern far from
/// null and the low addresses Swift also reserves.
///
/// Two stored handles are equal when they name the same allocation; the size
/// rides along and is not compared, so an evictor, which knows only the
/// allocation, can ask TMem to flush "this key if it still maps here".
///
/// Each sentinel carries a tag unique among the last 2^40 sentinel puts, so a
/// same-filled page put over the same one is a new handle: TMem frees the old
/// one and `zero_filled_pages` / `same_filled_pages` stay exact (equal
/// sentinels would make TMem keep the old one and free nothing, while the put
/// counted one more page).
struct ZPageHandle: Equatable, @unchecked Sendable {
    /// The bits (a plain value: never dereferenced, hence Sendable).
    private let bits: UnsafeRawPointer

    @inline(__always)
    private var raw: UInt64 { UInt64(UInt(bitPattern: bits)) }

    private static let sameFilledBit: UInt64 = 1 << 63
    private static let nonNullBit: UInt64 = 1 << 61
    private static let slotShift: UInt64 = 40
    private static let slotMask: UInt64 = (1 << 21) - 1
    private static let tagMask: UInt64 = (1 << 40) - 1
    private static let persistentBit: UInt64 = 1 << 62
    private static let sizeShift: UInt64 = 48
    private static let sizeMask: UInt64 = (1 << 13) - 1
    private static let identityMask: UInt64 = ~(sizeMask << sizeShift)

    /// The most same-filled words (other than zero) in use at once.
    static let sameFilledSlots = Int(slotMask)

    /// A same-filled sentinel for word slot `slot` (0: the zero page).
    static func sameFilled(slot: Int, tag: UInt64) -> ZPageHandle {
        ZPageHandle(
            raw: sameFilledBit | (UInt64(slot) & slotMask) << slotShift | (tag & tagMask))
    }

    @inline(__always)
    private init(raw: UInt64) {
        // Never nil: bit 61 is set.
        bits = UnsafeRawPointer(bitPattern: UInt(raw | Self.nonNullBit))!
    }

    /// A page stored as `handle` by the allocator of `zbudClass`, `size` bytes compressed.
    init(allocation handle: UInt32, class zbudClass: ZBudClass, size: Int = 0) {
        self.init(
            raw: UInt64(handle)
                | (zbudClass == .persistent ? Self.persistentBit : 0)
                | (UInt64(size) & Self.sizeMask) << Self.sizeShift)
    }

    var isSameFilled: Bool { raw & Self.sameFilledBit != 0 }
    /// The word slot of a same-filled sentinel (0: the zero page).
    var sameFilledSlot: Int { Int((raw >> Self.slotShift) & Self.slotMask) }
    var isZeroFilled: Bool { isSameFilled && sameFilledSlot == 0 }
    /// The allocator's handle of a stored page.
    var allocation: UInt32 { UInt32(truncatingIfNeeded: raw) }
    var zbudClass: ZBudClass { raw & Self.persistentBit != 0 ? .persistent : .ephemeral }
    /// The compressed size of a stored page (what the codec produced).
    var size: Int { Int((raw >> Self.sizeShift) & Self.sizeMask) }

    static func == (lhs: ZPageHandle, rhs: ZPageHandle) -> Bool {
        if (lhs.raw | rhs.raw) & sameFilledBit != 0 { return lhs.raw == rhs.raw }
        return lhs.raw & identityMask == rhs.raw & identityMask
    }
}

extension BudOwner {
    /// The tmem key as zbud stores it in front of each bud (the kernel's
    /// 32-byte `tmem_handle`: oid, index, pool id, client id).
    init(_ key: TMemKey) {
        self.init(
            w0: key.object.a, w1: key.object.b, w2: key.object.c,
            w3: UInt64(key.index) | UInt64(key.pool.index) << 32
                | UInt64(key.pool.client.rawValue) << 48)
    }
}

extension TMemKey {
    /// The key a bud's owner names (the inverse of `BudOwner.init(_:)`).
    init(_ owner: BudOwner) {
        self.init(
            pool: PoolID(
                client: ClientID(rawValue: UInt16(truncatingIfNeeded: owner.w3 >> 48)),
                index: UInt16(truncatingIfNeeded: owner.w3 >> 32)),
            object: ObjectID(owner.w0, owner.w1, owner.w2),
            index: UInt32(truncatingIfNeeded: owner.w3))
    }
}
