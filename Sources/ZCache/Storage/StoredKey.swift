// The tmem key as ZCache stores it in front of an object of an allocator that
// keeps no key of its own (zsmalloc), so eviction and writeback, which find
// objects on the per-entry LRU, can name the key to flush.
//
// The kernel's 32-byte `tmem_handle` would cost ~2 % of a 1.7 KB object, and
// almost all of it is zero bits. So a shape byte says which of the six fields
// are not zero (bit k for field k, in the order below; bits 6 and 7 clear),
// and only those follow, each one LEB128 varint (7 bits a byte, the high bit
// set on every byte but the last):
//
//   shape | client | pool index | object a | object b | object c | page index
//   1 B     1-3 B    1-3 B        1-10 B     1-10 B     1-10 B     1-5 B
//
// A swap page (client 0, the swap type as pool, object b and c 0, index
// < 2^21) takes 2-5 bytes; the worst key 42. The encoding delimits itself: a
// reader that does not know the key (an LRU evictor) decodes it from the
// object's first bytes; a reader that knows it (a get) skips `size(of:)` bytes.

import TMem

enum StoredKey {
    /// The longest encoding: 1 + 3 + 3 + 10 + 10 + 10 + 5 bytes.
    static let maxSize = 42

    /// The six fields in stored order.
    @inline(__always)
    private static func fields(of key: TMemKey) -> (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    {
        (
            UInt64(key.pool.client.rawValue), UInt64(key.pool.index), key.object.a, key.object.b,
            key.object.c, UInt64(key.index)
        )
    }

    /// Bytes `key` takes when stored.
    @inline(__always)
    static func size(of key: TMemKey) -> Int {
        let f = fields(of: key)
        @inline(__always) func bytes(_ value: UInt64) -> Int {
            value == 0 ? 0 : varintSize(value)
        }
        return 1 + bytes(f.0) + bytes(f.1) + bytes(f.2) + bytes(f.3) + bytes(f.4) + bytes(f.5)
    }

    /// Writes `key` at `address` (room for `size(of: key)` bytes); returns the bytes written.
    @discardableResult
    static func store(_ key: TMemKey, at address: UnsafeMutableRawPointer) -> Int {
        let f = fields(of: key)
        var shape: UInt8 = 0
        var offset = 1
        @inline(__always) func put(_ field: UInt64, bit: UInt8) {
            guard field != 0 else { return }
            shape |= 1 << bit
            var value = field
            while value >= 0x80 {
                address.storeBytes(
                    of: UInt8(truncatingIfNeeded: value) | 0x80, toByteOffset: offset,
                    as: UInt8.self)
                value >>= 7
                offset += 1
            }
            address.storeBytes(of: UInt8(value), toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
        put(f.0, bit: 0)
        put(f.1, bit: 1)
        put(f.2, bit: 2)
        put(f.3, bit: 3)
        put(f.4, bit: 4)
        put(f.5, bit: 5)
        address.storeBytes(of: shape, as: UInt8.self)
        return offset
    }

    /// Decodes a key written by `store` from the start of `bytes`; nil when
    /// the bytes end first, the shape byte has bits 6 or 7 set, a field
    /// overflows its type, or a field marked present is zero (never for
    /// bytes `store` wrote).
    static func load(from bytes: UnsafeRawBufferPointer) -> TMemKey? {
        guard let shape = bytes.first, shape >> 6 == 0 else { return nil }
        // A fixed tuple, not an array: writeback and eviction decode one key
        // per victim, and an array cost a malloc and a free each time.
        var fields: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        var offset = 1
        for bit in 0..<6 {
            guard shape & (1 << bit) != 0 else { continue }
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count, shift < 64 else { return nil }
                let byte = bytes[offset]
                offset += 1
                let bits = UInt64(byte & 0x7F)
                // Bits shifted out of 64 would be lost: refuse them.
                guard shift == 0 || bits >> (64 - shift) == 0 else { return nil }
                value |= bits << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            guard value != 0, value <= fieldLimit(bit) else { return nil }
            withUnsafeMutableBytes(of: &fields) {
                $0.storeBytes(of: value, toByteOffset: bit * 8, as: UInt64.self)
            }
        }
        return TMemKey(
            pool: PoolID(
                client: ClientID(rawValue: UInt16(fields.0)), index: UInt16(fields.1)),
            object: ObjectID(fields.2, fields.3, fields.4),
            index: UInt32(fields.5))
    }

    /// The largest value of each field, in stored order.
    /// The largest value of field `bit` (client and pool index 16 bits,
    /// the object's three words 64, the page index 32).
    @inline(__always)
    private static func fieldLimit(_ bit: Int) -> UInt64 {
        switch bit {
        case 0, 1: UInt64(UInt16.max)
        case 5: UInt64(UInt32.max)
        default: .max
        }
    }

    /// Bytes of `value` as a LEB128 varint: one per 7 significant bits.
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        return max(1, (bits + 6) / 7)
    }
}
