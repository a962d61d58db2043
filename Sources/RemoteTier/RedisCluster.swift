import Dispatch
import Synchronization
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A command on one key: its arguments, the first being the command's name
/// and the second the key that routes it.
public struct RedisCommand: Sendable, Equatable {
    public var arguments: [[UInt8]]

    public init(_ arguments: [[UInt8]]) {
        precondition(arguments.count >= 2, "a keyed command has a name and a key")
        self.arguments = arguments
    }

    public init(_ name: String, key: [UInt8], _ rest: [UInt8]...) {
        self.init([Array(name.utf8), key] + rest)
    }

    var key: [UInt8] { arguments[1] }
}

/// A Redis Cluster client: routing by key slot, the slot map from the cluster,
/// MOVED and ASK redirections, reconnects, and pipelining per node.
///
/// This is the only protocol logic written here; the wire protocol is hiredis's.
/// A batch of N commands costs one round trip per node that owns some of them
/// (plus one more per redirection), not N.
///
/// Thread-safe. Two short locks, never held across network I/O: the slot
/// map's and the connection pool's. A connection is checked out of the pool,
/// used by one thread with no lock held, and returned.
public final class RedisCluster: Sendable {
    public struct Configuration: Sendable {
        /// Nodes to ask for the slot map first (any node of the cluster will do).
        public var seeds: [RedisNodeAddress]
        /// Timeout of a connect, and of every read and write.
        public var timeoutMilliseconds = 1000
        /// Rounds of redirection or retry for one batch before giving up.
        public var maxAttempts = 12
        /// The first pause before retrying a node that failed or a slot the
        /// cluster cannot serve yet (a failover); it doubles up to 1 s.
        public var retryDelayMilliseconds = 100
        /// Idle connections kept per node.
        public var connectionsPerNode = 4

        public init(seeds: [RedisNodeAddress]) { self.seeds = seeds }
    }

    public let configuration: Configuration
    private let slots: LockedValue<ClusterSlotMap>
    private let pool = LockedValue<[RedisNodeAddress: [RedisConnection]]>([:])
    private let redirections = Atomic<Int>(0)
    private let reconnects = Atomic<Int>(0)

    /// Connects to the cluster through its seeds and reads its slot map.
    public init(configuration: Configuration) throws(RemoteTierError) {
        guard !configuration.seeds.isEmpty else { throw .badInput("no cluster node given") }
        guard (1...60_000).contains(configuration.timeoutMilliseconds) else {
            throw .badInput("timeout \(configuration.timeoutMilliseconds) ms is not in 1...60000")
        }
        self.configuration = configuration
        slots = LockedValue(ClusterSlotMap())
        try refreshSlots()
    }

    /// MOVED and ASK answers followed since creation.
    public var redirectionCount: Int { redirections.load(ordering: .relaxed) }
    /// Connections opened after the first one to a node failed.
    public var reconnectCount: Int { reconnects.load(ordering: .relaxed) }

    /// The masters the slot map names.
    public var masters: [RedisNodeAddress] { slots.withLock { $0.nodes } }

    /// The master serving `key` now, per the slot map.
    public func master(forKey key: [UInt8]) -> RedisNodeAddress? {
        let slot = ClusterSlotMap.slot(of: key)
        return slots.withLock { $0.node(forSlot: slot) }
    }

    /// Reads the slot map from the first node that answers: the seeds, then
    /// every node and replica the old map knew.
    public func refreshSlots() throws(RemoteTierError) {
        let known = slots.withLock { map in map.nodes + map.replicas.values.flatMap { $0 } }
        var lastError = RemoteTierError.unreachable("no node answered CLUSTER SLOTS")
        var tried = Set<RedisNodeAddress>()
        for address in configuration.seeds + known where tried.insert(address).inserted {
            do throws(RemoteTierError) {
                let reply = try withConnection(to: address) {
                    (connection) throws(RemoteTierError) in
                    try connection.pipeline([[Array("CLUSTER".utf8), Array("SLOTS".utf8)]])[0]
                }
                let map = try ClusterSlotMap(clusterSlots: reply)
                guard !map.nodes.isEmpty else { throw .server("\(address): no slots assigned") }
                slots.withLock { $0 = map }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    /// Runs `commands`, each routed to the master of its key's slot, pipelined
    /// per node. With `replicas > 0`, each node's batch ends with
    /// `WAIT replicas timeout`, and a write counts as done only when that many
    /// replicas acknowledged it (else `.notReplicated`).
    ///
    /// Returns one result per command, in order. Redirections are followed,
    /// nodes that fail are retried after the slot map is read again (a
    /// failover), all within `maxAttempts` rounds.
    public func execute(_ commands: [RedisCommand], replicas: Int = 0, waitMilliseconds: Int = 1000)
        -> [Result<RedisReply, RemoteTierError>]
    {
        var results = [Result<RedisReply, RemoteTierError>?](repeating: nil, count: commands.count)
        var lastError = [RemoteTierError?](repeating: nil, count: commands.count)
        /// Pending commands, with the node an ASK sent each to (nil: the slot's master).
        var pending: [(index: Int, ask: RedisNodeAddress?)] = commands.indices.map { ($0, nil) }
        var delay = configuration.retryDelayMilliseconds
        for attempt in 0..<configuration.maxAttempts where !pending.isEmpty {
            if attempt > 0 {
                pause(milliseconds: delay)
                delay = min(delay * 2, 1000)
            }
            var groups: [RedisNodeAddress: [(index: Int, ask: Bool)]] = [:]
            slots.withLock { map in
                for (index, ask) in pending {
                    if let ask {
                        groups[ask, default: []].append((index, true))
                    } else if let node = map.node(
                        forSlot: ClusterSlotMap.slot(of: commands[index].key))
                    {
                        groups[node, default: []].append((index, false))
                    } else {
                        lastError[index] = .server(
                            "no node serves the slot of \(describe(commands[index].key))")
                    }
                }
            }
            var next: [(index: Int, ask: RedisNodeAddress?)] = []
            var refresh = groups.isEmpty
            // Each node's pipeline on its own thread: a batch costs the
            // slowest node's round trip, not the sum of them.
            let work = Array(groups)
            let pipelines: [[[[UInt8]]]] = work.map { _, group in
                var pipeline: [[[UInt8]]] = []
                for (index, ask) in group {
                    if ask { pipeline.append([Array("ASKING".utf8)]) }
                    pipeline.append(commands[index].arguments)
                }
                if replicas > 0 {
                    pipeline.append([
                        Array("WAIT".utf8), Array(String(replicas).utf8),
                        Array(String(waitMilliseconds).utf8),
                    ])
                }
                return pipeline
            }
            let nodes = work.map(\.key)
            let outcomes = LockedValue(
                [Result<[RedisReply], RemoteTierError>?](repeating: nil, count: work.count))
            let send: @Sendable (Int) -> Void = { [self] i in
                let outcome = Result { () throws(RemoteTierError) -> [RedisReply] in
                    try withConnection(to: nodes[i]) { (connection) throws(RemoteTierError) in
                        try connection.pipeline(pipelines[i])
                    }
                }
                outcomes.withLock { $0[i] = outcome }
            }
            if work.count == 1 {
                send(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: work.count, execute: send)
            }
            let replied = outcomes.withLock { $0 }
            for (i, (node, group)) in work.enumerated() {
                let replies: [RedisReply]
                switch replied[i]! {
                case .success(let r):
                    replies = r
                case .failure(let error):
                    for (index, _) in group {
                        lastError[index] = error
                        next.append((index, nil))
                    }
                    refresh = true
                    continue
                }
                let acknowledged: Int? =
                    if replicas > 0, case .integer(let n) = replies.last { n } else { nil }
                var position = 0
                for (index, ask) in group {
                    if ask { position += 1 }  // ASKING's +OK
                    let reply = replies[position]
                    position += 1
                    switch reply.redirection {
                    case .moved(let slot, let to)?:
                        redirections.add(1, ordering: .relaxed)
                        slots.withLock { $0.assign(slot: slot, to: to) }
                        refresh = true
                        lastError[index] = .tooManyRedirections(key: describe(commands[index].key))
                        next.append((index, nil))
                    case .ask(_, let to)?:
                        redirections.add(1, ordering: .relaxed)
                        lastError[index] = .tooManyRedirections(key: describe(commands[index].key))
                        next.append((index, to))
                    case nil:
                        if reply.isTransientClusterError, case .error(let message) = reply {
                            lastError[index] = .server("\(node): \(message)")
                            next.append((index, nil))
                            refresh = true
                        } else if case .error(let message) = reply {
                            results[index] = .failure(.server("\(node): \(message)"))
                        } else if let acknowledged, acknowledged < replicas {
                            results[index] = .failure(
                                .notReplicated(
                                    key: describe(commands[index].key), acknowledged: acknowledged,
                                    required: replicas))
                        } else {
                            results[index] = .success(reply)
                        }
                    }
                }
            }
            pending = next
            if refresh { try? refreshSlots() }
        }
        return results.enumerated().map { index, result in
            result ?? .failure(lastError[index] ?? .unreachable("no attempt reached a node"))
        }
    }

    /// Runs `body` on a pooled connection to `address` (opening one when none
    /// is idle). A connection that failed is dropped instead of returned.
    private func withConnection<T>(
        to address: RedisNodeAddress, _ body: (RedisConnection) throws(RemoteTierError) -> T
    ) throws(RemoteTierError) -> T {
        let idle = pool.withLock { $0[address]?.popLast() }
        let connection: RedisConnection
        if let idle {
            connection = idle
        } else {
            connection = try RedisConnection(
                address: address, timeoutMilliseconds: configuration.timeoutMilliseconds)
        }
        let result: T
        do {
            result = try body(connection)
        } catch {
            reconnects.add(1, ordering: .relaxed)
            throw error
        }
        pool.withLock { pool in
            if pool[address, default: []].count < configuration.connectionsPerNode {
                pool[address, default: []].append(connection)
            }
        }
        return result
    }

    /// Drops every idle connection (a test stops a node; the next use reconnects).
    public func dropConnections() {
        pool.withLock { $0.removeAll() }
    }

    /// A bounded pause between rounds against a cluster that is failing over:
    /// there is nothing local to wait on, only the remote election.
    private func pause(milliseconds: Int) {
        var request = timespec(
            tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    private func describe(_ key: [UInt8]) -> String { String(decoding: key, as: UTF8.self) }
}
