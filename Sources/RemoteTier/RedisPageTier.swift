import CZlib
import Synchronization
import ZCache
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Compressed pages in Redis Cluster, under one namespace per cache instance
/// (so many hosts share one cluster): the RAMster tier on an existing engine.
///
/// Key:   `zc:<namespace>:<type>:<offset in hex>:<generation in hex>` (no
///        hash tag: pages spread over every slot, so over every master)
/// Value: a 20-byte header, then the compressed bytes
///
///     0 ..< 4   magic "ZCP1"
///     4         codec id (the cache's; opaque here)
///     5         0
///     6 ..< 8   compressed length, little endian (1 ... 4096)
///     8 ..< 16  FNV-1a 64 of the key: binds the value to its namespace and page
///    16 ..< 20  CRC-32 of the compressed bytes
///
/// A get checks all of it, so a value written by something else, a page of
/// another namespace or entry, or damaged bytes is `notAPage`, never a wrong page.
public final class RedisPageTier: Sendable {
    public struct Configuration: Sendable {
        /// This cache instance's namespace: 1 to 64 of `A-Z a-z 0-9 _ . -`.
        public var namespace: String
        /// Replicas that must acknowledge a put (`WAIT`) before it counts; 0: the master's word.
        public var replicas = 0
        /// How long a put waits for those replicas (less than the cluster's
        /// timeout, which bounds every read of a reply).
        public var waitMilliseconds = 500

        public init(namespace: String) { self.namespace = namespace }
    }

    static let headerSize = 20
    static let magic: [UInt8] = Array("ZCP1".utf8)
    public static let maxPageBytes = 4096

    public let cluster: RedisCluster
    public let configuration: Configuration
    private let prefix: [UInt8]
    let stats = RemoteTierCounters()

    public init(cluster: RedisCluster, configuration: Configuration) throws(RemoteTierError) {
        let namespace = configuration.namespace
        guard (1...64).contains(namespace.utf8.count),
            namespace.utf8.allSatisfy({ byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte)
                    || (0x61...0x7A).contains(byte) || byte == 0x5F || byte == 0x2E || byte == 0x2D
            })
        else {
            throw .badInput("namespace '\(namespace)' must be 1 to 64 of A-Z a-z 0-9 _ . -")
        }
        guard (0...16).contains(configuration.replicas) else {
            throw .badInput("replicas \(configuration.replicas) is not in 0...16")
        }
        guard (1...60_000).contains(configuration.waitMilliseconds) else {
            throw .badInput("wait \(configuration.waitMilliseconds) ms is not in 1...60000")
        }
        // WAIT blocks the connection for up to its timeout: a socket timeout
        // shorter than that would cut every slow WAIT off and resend its batch.
        guard
            configuration.replicas == 0
                || configuration.waitMilliseconds < cluster.configuration.timeoutMilliseconds
        else {
            throw .badInput(
                "wait \(configuration.waitMilliseconds) ms must be shorter than the cluster's "
                    + "timeout \(cluster.configuration.timeoutMilliseconds) ms")
        }
        self.cluster = cluster
        self.configuration = configuration
        prefix = Array("zc:\(namespace):".utf8)
    }

    /// The Redis key of a page.
    public func key(_ page: RemotePageKey) -> [UInt8] {
        prefix
            + Array(
                "\(page.type):\(String(page.offset, radix: 16)):\(String(page.generation, radix: 16))"
                    .utf8)
    }

    /// Stores pages (one pipelined round trip per master, plus `WAIT` when
    /// replicas are required). A page's result is success only once it is
    /// stored (and replicated as configured).
    public func put(_ pages: [(key: RemotePageKey, page: RemotePage)]) -> [Result<
        Void, RemoteTierError
    >] {
        var results = [Result<Void, RemoteTierError>?](repeating: nil, count: pages.count)
        var commands: [RedisCommand] = []
        var sent: [Int] = []
        for (i, (pageKey, page)) in pages.enumerated() {
            guard (1...Self.maxPageBytes).contains(page.data.count) else {
                results[i] = .failure(
                    .badInput("a page of \(page.data.count) bytes (1...\(Self.maxPageBytes))"))
                continue
            }
            let key = key(pageKey)
            commands.append(RedisCommand("SET", key: key, encode(page, key: key)))
            sent.append(i)
        }
        let started = RemoteTierCounters.now()
        let replies = cluster.execute(
            commands, replicas: configuration.replicas,
            waitMilliseconds: configuration.waitMilliseconds)
        stats.recordRoundTrip(nanoseconds: RemoteTierCounters.now() - started)
        for (i, reply) in zip(sent, replies) {
            switch reply {
            case .success:
                stats.puts.add(1, ordering: .relaxed)
                stats.bytes.add(Self.headerSize + pages[i].page.data.count, ordering: .relaxed)
                results[i] = .success(())
            case .failure(let error):
                stats.errors.add(1, ordering: .relaxed)
                results[i] = .failure(error)
            }
        }
        return results.map { $0 ?? .failure(.badInput("not sent")) }
    }

    /// Fetches pages: nil for a page the tier does not hold.
    public func get(_ keys: [RemotePageKey]) -> [Result<RemotePage?, RemoteTierError>] {
        let redisKeys = keys.map(key)
        let started = RemoteTierCounters.now()
        let replies = cluster.execute(redisKeys.map { RedisCommand("GET", key: $0) })
        stats.recordRoundTrip(nanoseconds: RemoteTierCounters.now() - started)
        return zip(redisKeys, replies).map { key, reply in
            stats.gets.add(1, ordering: .relaxed)
            let result: Result<RemotePage?, RemoteTierError> =
                switch reply {
                case .success(.null): .success(nil)
                case .success(.string(let value)): decode(value, key: key).map { Optional($0) }
                case .success(let other):
                    .failure(.notAPage(key: describe(key), reason: "reply \(other)"))
                case .failure(.notAPage(let key, let reason)):
                    .failure(.notAPage(key: key, reason: reason))
                case .failure(let error):
                    .failure(.pageUnavailable(key: describe(key), cause: "\(error)"))
                }
            switch result {
            case .success(.some): stats.getHits.add(1, ordering: .relaxed)
            case .success(.none): break
            case .failure: stats.errors.add(1, ordering: .relaxed)
            }
            return result
        }
    }

    /// Removes pages; true for each page that was there.
    public func delete(_ keys: [RemotePageKey]) -> [Result<Bool, RemoteTierError>] {
        let replies = cluster.execute(keys.map { RedisCommand("DEL", key: key($0)) })
        return replies.map { reply in
            switch reply {
            case .success(.integer(let n)): .success(n > 0)
            case .success(let other): .failure(.server("DEL answered \(other)"))
            case .failure(let error): .failure(error)
            }
        }
    }

    /// The tier's counters and round-trip percentiles.
    public var statistics: RemoteTierStatistics { stats.snapshot() }

    func encode(_ page: RemotePage, key: [UInt8]) -> [UInt8] {
        var value = Self.magic
        value.reserveCapacity(Self.headerSize + page.data.count)
        value.append(page.codec)
        value.append(0)
        withUnsafeBytes(of: UInt16(page.data.count).littleEndian) { value.append(contentsOf: $0) }
        withUnsafeBytes(of: fnv1a(key).littleEndian) { value.append(contentsOf: $0) }
        withUnsafeBytes(of: crc(page.data).littleEndian) { value.append(contentsOf: $0) }
        value.append(contentsOf: page.data)
        return value
    }

    func decode(_ value: [UInt8], key: [UInt8]) -> Result<RemotePage, RemoteTierError> {
        func bad(_ reason: String) -> Result<RemotePage, RemoteTierError> {
            .failure(.notAPage(key: describe(key), reason: reason))
        }
        guard value.count > Self.headerSize, Array(value[0..<4]) == Self.magic else {
            return bad("no page header")
        }
        let length = Int(UInt16(value[6]) | UInt16(value[7]) << 8)
        guard (1...Self.maxPageBytes).contains(length), value.count == Self.headerSize + length
        else {
            return bad(
                "length \(length) does not match the value's \(value.count - Self.headerSize) bytes"
            )
        }
        let keyHash = value[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard keyHash == fnv1a(key) else { return bad("written for another key or namespace") }
        let data = Array(value[Self.headerSize...])
        let checksum = value[16..<20].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard checksum == crc(data) else { return bad("checksum mismatch") }
        return .success(RemotePage(codec: value[4], data: data))
    }

    private func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    private func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }

    private func describe(_ key: [UInt8]) -> String { String(decoding: key, as: UTF8.self) }
}

/// The tier as ZCache's writeback target.
extension RedisPageTier: RemotePageStore {
    public func storePages(_ pages: [(key: RemotePageKey, page: RemotePage)]) -> [Result<
        Void, any Error
    >] {
        put(pages).map { $0.mapError { $0 } }
    }

    public func loadPages(_ keys: [RemotePageKey]) -> [Result<RemotePage?, any Error>] {
        get(keys).map { $0.mapError { $0 } }
    }

    public func deletePages(_ keys: [RemotePageKey]) -> [Result<Bool, any Error>] {
        delete(keys).map { $0.mapError { $0 } }
    }
}
