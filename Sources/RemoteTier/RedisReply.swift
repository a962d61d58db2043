import CHiredis

/// One reply of a Redis server, copied out of hiredis's reply object.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int)
    case array([RedisReply])
    case null
    case error(String)

    init(_ reply: UnsafeMutablePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case zcache_redis_reply_string:
            self = .string(
                r.str.map { Array(UnsafeRawBufferPointer(start: $0, count: r.len)) } ?? [])
        case zcache_redis_reply_status:
            self = .status(r.str.map { String(cString: $0) } ?? "")
        case zcache_redis_reply_error:
            self = .error(r.str.map { String(cString: $0) } ?? "")
        case zcache_redis_reply_integer:
            self = .integer(Int(r.integer))
        case zcache_redis_reply_array:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { elements.append(RedisReply(element)) }
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    /// The redirection this error asks for, if it is MOVED or ASK.
    var redirection: Redirection? {
        guard case .error(let message) = self else { return nil }
        let words = message.split(separator: " ")
        guard words.count == 3, let slot = Int(words[1]),
            let address = RedisNodeAddress(String(words[2]))
        else { return nil }
        switch words[0] {
        case "MOVED": return .moved(slot: slot, to: address)
        case "ASK": return .ask(slot: slot, to: address)
        default: return nil
        }
    }

    /// Whether this error says the cluster cannot serve the slot right now
    /// (a failover in progress, a slot being migrated): worth a retry.
    var isTransientClusterError: Bool {
        guard case .error(let message) = self else { return false }
        return message.hasPrefix("CLUSTERDOWN") || message.hasPrefix("TRYAGAIN")
            || message.hasPrefix("LOADING")
    }
}

/// A MOVED or ASK answer: the slot lives (for good, or during a migration) elsewhere.
enum Redirection: Equatable {
    case moved(slot: Int, to: RedisNodeAddress)
    case ask(slot: Int, to: RedisNodeAddress)
}

/// A node's address (loopback or a cluster's announced address).
public struct RedisNodeAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `redis://host:port` or `[v6]:port`.
    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.hasPrefix("redis://") { rest = rest.dropFirst("redis://".count) }
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"),
            let port = Int(rest[rest.index(after: colon)...]),
            (1...65535).contains(port)
        else { return nil }
        var host = rest[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
