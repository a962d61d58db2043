/// Which node serves which of the 16384 hash slots (Redis Cluster's key
/// space), as `CLUSTER SLOTS` reports it.
struct ClusterSlotMap: Sendable {
    static let slotCount = 16384

    /// The master serving each slot (an index into `nodes`), or -1 when none does.
    private(set) var owner: [Int16]
    private(set) var nodes: [RedisNodeAddress]
    /// Each master's replicas, as the cluster last reported them.
    private(set) var replicas: [RedisNodeAddress: [RedisNodeAddress]]

    init() {
        owner = [Int16](repeating: -1, count: Self.slotCount)
        nodes = []
        replicas = [:]
    }

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id...], replica...], ...]`.
    init(clusterSlots reply: RedisReply) throws(RemoteTierError) {
        self.init()
        guard case .array(let ranges) = reply else {
            throw .server("CLUSTER SLOTS: unexpected reply \(reply)")
        }
        var index: [RedisNodeAddress: Int16] = [:]
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3,
                case .integer(let start) = fields[0], case .integer(let end) = fields[1],
                0 <= start, start <= end, end < Self.slotCount,
                let master = Self.address(fields[2])
            else { throw .server("CLUSTER SLOTS: malformed range \(range)") }
            let id: Int16
            if let known = index[master] {
                id = known
            } else {
                id = Int16(nodes.count)
                index[master] = id
                nodes.append(master)
            }
            for slot in start...end { owner[slot] = id }
            replicas[master] = fields.dropFirst(3).compactMap(Self.address)
        }
    }

    private static func address(_ reply: RedisReply) -> RedisNodeAddress? {
        guard case .array(let parts) = reply, parts.count >= 2, case .string(let host) = parts[0],
            case .integer(let port) = parts[1], (1...65535).contains(port)
        else { return nil }
        return RedisNodeAddress(host: String(decoding: host, as: UTF8.self), port: port)
    }

    func node(forSlot slot: Int) -> RedisNodeAddress? {
        let id = owner[slot]
        return id < 0 ? nil : nodes[Int(id)]
    }

    mutating func assign(slot: Int, to address: RedisNodeAddress) {
        if let id = nodes.firstIndex(of: address) {
            owner[slot] = Int16(id)
        } else {
            owner[slot] = Int16(nodes.count)
            nodes.append(address)
        }
    }

    /// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag
    /// (the part between the first `{` and the next `}`, when not empty), mod 16384.
    static func slot(of key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        var hashed = bytes[...]
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
            let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            hashed = bytes[(open + 1)..<close]
        }
        return Int(crc16(hashed) & 0x3FFF)
    }

    /// CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), Redis Cluster's key hash.
    static func crc16(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
