// The tmem key as ZCache stores it in front of an object of an allocator that
// keeps no key of its own (zsmalloc), so eviction and writeback, which find
// objects on the per-entry LRU, can name the key to flush.
//
// The kernel's 32-byte `tmem_handle` would cost ~2 % of a 1.7 KB object, and
// almost all of it is zero bits. So each field is one LEB128 varint (7 bits a
// byte, the high bit set on every byte but the last), in this order:
//
//   client | pool index | object a | object b | object c | page index
//   1-3 B    1-3 B        1-10 B     1-10 B     1-10 B     1-5 B
//
// A swap page (object 0 or a swap type, index < 2^21) takes 6-8 bytes; the
// worst key 41. The encoding delimits itself: a reader that does not know the
// key (an LRU evictor) decodes it from the object's first bytes; a reader
// that knows it (a get) skips `size(of:)` bytes.

import TMem

enum StoredKey {
    /// The longest encoding: 3 + 3 + 10 + 10 + 10 + 5 bytes.
    static let maxSize = 41

    /// Bytes `key` takes when stored.
    @inline(__always)
    static func size(of key: TMemKey) -> Int {
        varintSize(UInt64(key.pool.client.rawValue)) + varintSize(UInt64(key.pool.index))
            + varintSize(key.object.a) + varintSize(key.object.b) + varintSize(key.object.c)
            + varintSize(UInt64(key.index))
    }

    /// Writes `key` at `address` (room for `size(of: key)` bytes); returns the bytes written.
    @discardableResult
    static func store(_ key: TMemKey, at address: UnsafeMutableRawPointer) -> Int {
        var offset = 0
        @inline(__always) func put(_ field: UInt64) {
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
        put(UInt64(key.pool.client.rawValue))
        put(UInt64(key.pool.index))
        put(key.object.a)
        put(key.object.b)
        put(key.object.c)
        put(UInt64(key.index))
        return offset
    }

    /// Decodes a key written by `store` from the start of `bytes`; nil when
    /// the bytes end first or a field overflows its type (never for bytes
    /// `store` wrote).
    static func load(from bytes: UnsafeRawBufferPointer) -> TMemKey? {
        var fields: [UInt64] = []
        fields.reserveCapacity(6)
        var offset = 0
        for limit in fieldLimits {
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
            guard value <= limit else { return nil }
            fields.append(value)
        }
        return TMemKey(
            pool: PoolID(
                client: ClientID(rawValue: UInt16(fields[0])), index: UInt16(fields[1])),
            object: ObjectID(fields[2], fields[3], fields[4]),
            index: UInt32(fields[5]))
    }

    /// The largest value of each field, in stored order.
    private static let fieldLimits: [UInt64] = [
        UInt64(UInt16.max), UInt64(UInt16.max), .max, .max, .max, UInt64(UInt32.max),
    ]

    /// Bytes of `value` as a LEB128 varint: one per 7 significant bits.
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        let bits = 64 - value.leadingZeroBitCount
        return max(1, (bits + 6) / 7)
    }
}
