import CHiredis

/// One connection to one node, through hiredis's blocking API with a timeout
/// on connect, read and write (so no call waits longer than that).
///
/// Not thread-safe: a connection is used by one thread at a time, checked out
/// of `RedisCluster`'s pool and returned after use. After any I/O error it is
/// dead (hiredis's context keeps its error) and is dropped, not returned.
final class RedisConnection {
    let address: RedisNodeAddress
    private let context: UnsafeMutablePointer<redisContext>

    init(address: RedisNodeAddress, timeoutMilliseconds: Int) throws(RemoteTierError) {
        self.address = address
        guard
            let context = zcache_redis_connect(
                address.host, Int32(address.port), Int32(timeoutMilliseconds))
        else {
            throw .unreachable("\(address): cannot allocate a connection")
        }
        guard context.pointee.err == 0 else {
            let message = Self.errorString(context)
            redisFree(context)
            throw .unreachable("\(address): \(message)")
        }
        self.context = context
    }

    deinit { redisFree(context) }

    /// Sends every command, then reads every reply: one round trip for the
    /// lot (Redis pipelining). A reply may itself be an error (`.error`); an
    /// I/O failure throws and leaves the connection dead.
    func pipeline(_ commands: [[[UInt8]]]) throws(RemoteTierError) -> [RedisReply] {
        for command in commands {
            // One flat buffer per command; hiredis copies the arguments into
            // its output buffer before returning.
            let flat = command.flatMap { $0 }
            let lengths = command.map(\.count)
            let appended = flat.withUnsafeBufferPointer { bytes -> Int32 in
                var pointers: [UnsafePointer<CChar>?] = []
                pointers.reserveCapacity(command.count)
                var offset = 0
                let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                for length in lengths {
                    pointers.append((base + offset).assumingMemoryBound(to: CChar.self))
                    offset += length
                }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        redisAppendCommandArgv(
                            context, Int32(command.count), argv.baseAddress, argvlen.baseAddress)
                    }
                }
            }
            guard appended == zcache_redis_ok else {
                throw .unreachable("\(address): \(Self.errorString(context))")
            }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == zcache_redis_ok, let raw else {
                throw .unreachable("\(address): \(Self.errorString(context))")
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(RedisReply(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { bytes in
            let text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            return text.isEmpty ? "I/O error \(context.pointee.err)" : text
        }
    }
}
