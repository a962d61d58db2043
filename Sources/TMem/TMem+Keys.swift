// The names TMem files pages under: client, pool, object, index (tmem.h's
// `struct tmem_oid`, `tmem_pool`, `uint32_t index`), plus its errors.

/// A 192-bit object id (the kernel's `struct tmem_oid`, three `u64`s).
///
/// Cleancache uses a file key; frontswap swizzles the swap type and the low
/// eight bits of the offset into `a` (see ``TMemKey``).
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    public var a: UInt64
    public var b: UInt64
    public var c: UInt64

    public init(_ a: UInt64, _ b: UInt64 = 0, _ c: UInt64 = 0) {
        self.a = a
        self.b = b
        self.c = c
    }

    public var description: String { "oid(\(a),\(b),\(c))" }

    /// The bucket hash: the kernel's `tmem_oid_hash` folds the three words and
    /// takes the top bits of a multiplicative hash. Rotating before folding keeps
    /// ids whose words are permutations of each other apart.
    @inline(__always)
    var bucketHash: UInt64 {
        let folded = a ^ ((b << 21) | (b >> 43)) ^ ((c << 42) | (c >> 22))
        return folded &* 0x9E37_79B9_7F4A_7C15
    }
}

/// A tmem client (the kernel's `tmem_client`, one per "guest"; here one per user
/// of a `TMem`). Obtained from ``TMem/newClient()``.
public struct ClientID: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var description: String { "client \(rawValue)" }
}

/// A pool of one client: its index among that client's pools. Obtained from
/// ``TMem/newPool(client:kind:)``.
public struct PoolID: Hashable, Sendable, CustomStringConvertible {
    public let client: ClientID
    public let index: UInt16

    public init(client: ClientID, index: UInt16) {
        self.client = client
        self.index = index
    }

    public var description: String { "pool \(client.rawValue).\(index)" }
}

/// The full name of one page in tmem: pool, object and page index.
///
/// Frontswap's swizzling (`zcache-main.c`): `object.a = (type << 8) | (offset & 0xff)`
/// and `index = offset >> 8`, so one swap type spreads over 256 objects whose
/// indexes are sparse.
public struct TMemKey: Hashable, Sendable, CustomStringConvertible {
    public var pool: PoolID
    public var object: ObjectID
    public var index: UInt32

    public init(pool: PoolID, object: ObjectID, index: UInt32) {
        self.pool = pool
        self.object = object
        self.index = index
    }

    public var description: String { "\(pool) \(object) [\(index)]" }
}

/// Whether a pool's pages may vanish (`ephemeral`, cleancache) or must stay
/// until flushed (`persistent`, frontswap).
public enum PoolKind: String, Sendable, Codable, CaseIterable {
    case ephemeral
    case persistent
}

/// Why a TMem call was refused. A refused call changed nothing.
public enum TMemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The client id was never handed out, or has been destroyed.
    case unknownClient(ClientID)
    /// The pool id was never handed out, or its pool has been destroyed.
    case unknownPool(PoolID)
    /// Every client slot (``TMem/Configuration/maxClients``) is in use.
    case tooManyClients
    /// Every pool slot of this client (``TMem/Configuration/maxPoolsPerClient``) is in use.
    case tooManyPools(ClientID)

    public var description: String {
        switch self {
        case .unknownClient(let client): "unknown \(client)"
        case .unknownPool(let pool): "unknown \(pool)"
        case .tooManyClients: "too many tmem clients"
        case .tooManyPools(let client): "too many pools for \(client)"
        }
    }
}
