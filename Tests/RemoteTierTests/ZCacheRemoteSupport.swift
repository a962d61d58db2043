import Foundation
import SwapDevice
import XCTest
import ZCache
import ZCacheSupport

@testable import RemoteTier

/// A ZCache writing back to a RedisPageTier, with a swap file: the stack the
/// remote-tier model tests drive.
final class RemoteStack {
    let cache: ZCache
    let device: SwapDevice
    let tier: RedisPageTier

    init(
        cluster: RedisCluster, namespace: String, replicas: Int = 0, waitMilliseconds: Int = 5000,
        allocator: ZCacheAllocatorKind, swapFileBehind: Bool = false, pageframes: Int = 48,
        slots: Int = 4096
    ) throws {
        var tierConfiguration = RedisPageTier.Configuration(namespace: namespace)
        tierConfiguration.replicas = replicas
        tierConfiguration.waitMilliseconds = waitMilliseconds
        tier = try RedisPageTier(cluster: cluster, configuration: tierConfiguration)
        var configuration = ZCacheConfiguration()
        configuration.pageframes = pageframes
        configuration.allocator = allocator
        configuration.ignoreNonActivePersistentPuts = false
        configuration.ignoreNonActiveEphemeralPuts = false
        cache = ZCache(
            configuration: configuration,
            remote: RemoteWriteback(store: tier, swapFileBehind: swapFileBehind, batchPages: 32))
        device = try SwapDevice.createTemporary(in: NSTemporaryDirectory(), pages: slots)
        try cache.attachSwapDevice(device)
    }

    /// A page that compresses (runs of bytes) and names `id` in its first 8 bytes.
    static func page(_ id: UInt64) -> [UInt8] { StampedPages().page(id) }

    /// Keys of `namespace` left in the cluster (every master scanned).
    static func keysLeft(_ cluster: LocalCluster, masters: [RedisNodeAddress], namespace: String)
        throws -> Int
    {
        try masters.reduce(0) { total, node in
            let output = try cluster.cli(
                port: node.port, ["--scan", "--pattern", "zc:\(namespace):*"])
            return total + output.split(separator: "\n").filter { !$0.isEmpty }.count
        }
    }
}

/// One thread of a model run: its own swap entries and cleancache keys, each
/// with the id of the page it must hold. Every swap-in and cleancache hit is
/// compared with the model.
final class RemoteModelWorker: @unchecked Sendable {
    let index: Int
    let stack: RemoteStack
    let filesystem: ZCache.FilesystemID
    private var rng: SplitMix64
    private var nextID: UInt64
    /// Swapped-out pages: entry and page id.
    private(set) var live: [(entry: SwapEntry, id: UInt64)] = []
    private var cleancache: [UInt32: UInt64] = [:]
    private(set) var verified = 0
    private(set) var wrong: [String] = []
    /// Swap-ins that failed with a typed error and kept their entry (retried later).
    private(set) var retried = 0
    /// Errors that were not `remotePageUnavailable` (or swap-outs that failed).
    private(set) var otherErrors: [String] = []
    private(set) var sources: [ZCache.SwapInSource: Int] = [:]

    init(index: Int, stack: RemoteStack, seed: UInt64) throws {
        self.index = index
        self.stack = stack
        filesystem = try stack.cache.cleancacheInitFilesystem()
        rng = SplitMix64(seed: seed &+ UInt64(index))
        nextID = UInt64(index + 1) << 40
    }

    /// `steps` random operations, a writeback of a few frames every 8th.
    func run(steps: Int, maxLive: Int = 300) {
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for step in 0..<steps {
            if step % 8 == 7 { stack.cache.writeback(pageframes: 8) }
            let roll = rng.next() % 100
            if roll < 45 && live.count < maxLive || live.isEmpty {
                nextID += 1
                let page = RemoteStack.page(nextID)
                do {
                    let entry = try page.withUnsafeBytes {
                        try stack.cache.swapOut(page: $0, type: stack.device.type)
                    }
                    live.append((entry, nextID))
                } catch {
                    otherErrors.append("swap-out: \(error)")
                }
            } else if roll < 75 {
                let i = Int(rng.next() % UInt64(live.count))
                if swapIn(at: i, &buffer) { live.swapAt(i, live.count - 1); live.removeLast() }
            } else if roll < 85 {
                let i = Int(rng.next() % UInt64(live.count))
                stack.cache.swapFree(live[i].entry)
                live.swapAt(i, live.count - 1)
                live.removeLast()
            } else {
                cleancacheStep(&buffer)
            }
        }
    }

    /// Swaps every live page in, each tried up to `attempts` times.
    func drain(attempts: Int = 3) {
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for _ in 0..<attempts where !live.isEmpty {
            live = live.indices.compactMap { i in swapIn(at: i, &buffer) ? nil : live[i] }
        }
    }

    /// Swaps in `live[i]`; true when done (verified or counted wrong), false
    /// when it failed with the entry kept.
    private func swapIn(at i: Int, _ buffer: inout [UInt8]) -> Bool {
        let (entry, id) = live[i]
        do {
            let source = try buffer.withUnsafeMutableBytes {
                try stack.cache.swapIn(entry, into: $0)
            }
            sources[source, default: 0] += 1
            if buffer == RemoteStack.page(id) {
                verified += 1
            } else {
                wrong.append(
                    "entry \(entry) (page \(id)) from \(source) holds \(Self.describe(buffer))")
            }
            return true
        } catch ZCacheError.remotePageUnavailable(let named, _) {
            if named != entry { wrong.append("error named \(named), not \(entry)") }
            retried += 1
            return false
        } catch {
            otherErrors.append("swap-in of \(entry): \(error)")
            return false
        }
    }

    /// What a wrong page holds, to tell a page never written (zeros) from
    /// another page's bytes (every page starts with its id).
    static func describe(_ bytes: [UInt8]) -> String { StampedPages().describe(bytes) }

    private func cleancacheStep(_ buffer: inout [UInt8]) {
        let index = UInt32(rng.next() % 64)
        if rng.next() % 2 == 0 {
            nextID += 1
            let stored = RemoteStack.page(nextID).withUnsafeBytes {
                (try? stack.cache.cleancachePut(
                    filesystem, file: ObjectID(1), index: index, page: $0))
                    ?? false
            }
            cleancache[index] = stored ? nextID : nil
        } else {
            let hit = buffer.withUnsafeMutableBytes {
                (try? stack.cache.cleancacheGet(
                    filesystem, file: ObjectID(1), index: index, into: $0))
                    ?? false
            }
            guard hit else { return }
            if let id = cleancache[index], buffer == RemoteStack.page(id) {
                verified += 1
            } else {
                wrong.append("cleancache index \(index) returned a page it was not given")
            }
        }
    }
}

/// Runs `workers` concurrently, `steps` each.
func runConcurrently(_ workers: [RemoteModelWorker], steps: Int) {
    DispatchQueue.concurrentPerform(iterations: workers.count) { workers[$0].run(steps: steps) }
}
