import TMem
import ZBud

/// What TMem stores for each page: the zcache "pampd". Either the zero-filled
/// sentinel (no pageframe) or a zbud bud, with its class and compressed size.
///
///     bit 63      zero-filled sentinel
///     bits 33-44  compressed size in bytes (carried so counters need no lookup)
///     bit 32      persistent class
///     bits 0-31   ZBudRef (frame number, bud)
///
/// Two bud handles are equal when they name the same bud; the size rides
/// along and is not compared, so the evictor, which knows only the bud, can
/// ask TMem to flush "this key if it still maps here".
///
/// Each zero-filled sentinel carries a tag (bits 0-62) unique to its put, so
/// a zero page put over a zero page is a new handle: TMem frees the old one
/// and `zero_filled_pages` stays exact (equal sentinels would make TMem keep
/// the old one and free nothing, while the put counted one more page).
struct ZPageHandle: Equatable, Sendable {
    private let raw: UInt64

    private static let zeroBit: UInt64 = 1 << 63
    private static let persistentBit: UInt64 = 1 << 32
    private static let sizeShift: UInt64 = 33
    private static let sizeMask: UInt64 = 0xFFF
    private static let identityMask: UInt64 = ~(sizeMask << sizeShift)

    /// A zero-filled sentinel; `tag` must differ from every live sentinel's.
    static func zeroFilled(tag: UInt64) -> ZPageHandle {
        ZPageHandle(raw: zeroBit | (tag & ~zeroBit))
    }

    private init(raw: UInt64) { self.raw = raw }

    init(_ ref: ZBudRef, class zbudClass: ZBudClass, size: Int = 0) {
        raw =
            UInt64(ref.rawValue)
            | (zbudClass == .persistent ? Self.persistentBit : 0)
            | (UInt64(size) & Self.sizeMask) << Self.sizeShift
    }

    var isZeroFilled: Bool { raw & Self.zeroBit != 0 }
    var ref: ZBudRef { ZBudRef(rawValue: UInt32(truncatingIfNeeded: raw)) }
    var zbudClass: ZBudClass { raw & Self.persistentBit != 0 ? .persistent : .ephemeral }
    var size: Int { Int((raw >> Self.sizeShift) & Self.sizeMask) }

    static func == (lhs: ZPageHandle, rhs: ZPageHandle) -> Bool {
        if (lhs.raw | rhs.raw) & zeroBit != 0 { return lhs.raw == rhs.raw }
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
