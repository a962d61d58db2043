// SwapDevice: a Linux-format swap file, its slot map, asynchronous page I/O and
// the swap cache. Writeback hands decompressed pages to it; swap-in reads them back.
//
// The file (Linux swap area, version 1; see Header/SwapHeader.swift):
//
//   byte 0            4096           8192                  lastPage * 4096
//   +-----------------+--------------+---------- ... -------+--------------+
//   | header, slot 0  | slot 1       | slot 2               | slot lastPage|
//   | "SWAPSPACE2" at |              |                      |              |
//   | bytes 4086..4095|              |                      |              |
//   +-----------------+--------------+---------- ... -------+--------------+
//
//   slot N lives at byte N * 4096; slot 0 is never handed out; slotCount is
//   lastPage + 1. `create` makes a sparse file with a fresh UUID; `open` takes size,
//   UUID and label from the header and rejects a bad one with a typed error.
//   Both first claim the file for this device alone (an exclusive flock held
//   until close; an area in /proc/swaps is refused): SwapDevice+Exclusive.swift.
//
// The objects and how a page moves between them:
//
//   SwapSlotMap   slot -> (use count, has-cache bit)        SlotMap/SwapSlotMap.swift
//   SwapCache     entry -> SwapCachePage (flags, refs)      SwapCache/
//   SwapIOQueue   bounded rings (writes; reads, first) -> I/O worker threads
//                 (and a read on the caller's thread)       IO/SwapIOQueue.swift
//
//   writeback (ZCache):  swapcachePrepare(e) == .prepared
//                        -> page = cache.addLockedPage(for: e); fill; upToDate; unlock
//                        -> submitWritebacks([page, ...]): writeback + reclaim, +1 ref
//                           each, one queue lock for the batch
//                        -> caller page.release()
//                        -> I/O done: writeback cleared, I/O's ref released; the last
//                           reference drops the page from the cache + swapcacheFree(e).
//                           On error: stays cached, dirty, not writeback, not reclaim.
//   swap-in:             cache.find(e) (takes a ref) else read(e, into:) on the
//                        caller's thread (no queue, no worker)
//
// Waiting: a thread that finds an entry busy (its has-cache bit held by
// someone still preparing it, its page locked, or under writeback) sleeps in
// `SwapEntryWaitTable` until the holder's change wakes it. Nothing polls.
//
// Locks, in order (a lock further down may be taken while holding one above it,
// never the reverse; none is held across I/O or a completion):
//
//   0. SwapEntryWaitTable bucket   held while a waiter evaluates its predicate,
//                                  which may read the cache and the slot map
//   1. a SwapCache shard lock      its part of the entry -> page table (one
//                                  at a time; a page's link to its cache is
//                                  an atomic, not a lock)
//   2. SwapSlotMap.lock            the free-slot stack (the slot states are
//                                  atomics; never taken under 1, and it
//                                  takes no other lock)
//   IOMonitor (SwapIOQueue)        the request ring and in-flight counts; taken alone.
//
// Lifecycle: create/open -> submit* -> drain (wait for every completion) ->
// close (drain, stop the workers, close the file; idempotent, also run by deinit).
// Completions run on I/O worker threads, never on the submitter's; they must not
// call `drain` (it would wait for itself). They may submit (a retry of a failed
// write): a worker never waits for queue space, its request goes past the bound.
// `close` from a completion does not wait (the last worker out closes the file).
// After close, completions get `.closed` on a short-lived thread.

import Foundation
import Logging
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A swap file in the Linux format with asynchronous page I/O, the slot map of its
/// entries and its swap cache.
public final class SwapDevice: @unchecked Sendable {
    /// How the device does its I/O.
    public struct Configuration: Sendable {
        /// I/O worker threads (at least 1). One by default: buffered writes to
        /// one file take its inode lock exclusively, so a second worker mostly
        /// spins on it (half the CPU per page written, and faster, with one),
        /// and a swap-in's read needs no worker (`read`). More may help a
        /// file whose writes can run in parallel.
        public var ioWorkers = 1
        /// Requests that may wait in the queue before `submit` blocks (at least 1).
        public var queueDepth = 1024
        /// The system calls for page I/O (tests inject failures here).
        public var syscalls: SwapSyscalls = .system
        /// Told when `open` refuses a file's swap header (the error is thrown as well).
        public var logger: Logger?
        /// The kernel's list of active swap areas; a file it lists is refused.
        public var systemSwapAreasPath = "/proc/swaps"
        /// The kernel's list of file locks, read to name the process that holds
        /// a swap file this device cannot claim.
        public var systemLocksPath = "/proc/locks"

        /// The defaults: one I/O worker, a queue of 1024, the real system calls, no logger.
        public init() {}
    }

    /// The swap type of every entry on this device.
    public let type: Int
    /// The header read from, or written to, page 0.
    public let header: SwapHeader
    /// The file's path.
    public let path: String
    /// Reference counts and has-cache bits of the device's slots.
    public let slots: SwapSlotMap
    /// Pages in memory for entries of this device.
    public let swapCache: SwapCache

    private let queue: SwapIOQueue

    /// Slots including slot 0 (`header.lastPage + 1`); entries use `1..<slotCount`.
    public var slotCount: Int { Int(header.lastPage) + 1 }

    private init(
        path: String, fd: Int32, type: Int, header: SwapHeader, configuration: Configuration
    ) {
        self.path = path
        self.type = type
        self.header = header
        self.slots = SwapSlotMap(type: type, slotCount: Int(header.lastPage) + 1)
        self.swapCache = SwapCache(slots: slots)
        self.queue = SwapIOQueue(
            fd: fd, syscalls: configuration.syscalls, workers: configuration.ioWorkers,
            queueDepth: configuration.queueDepth)
        queue.start(name: "swap\(type)")
    }

    deinit { close() }

    /// Creates (or re-creates) the swap file at `path`: `pages` pages including
    /// the header page, sparse, with a fresh UUID and `label`, then opens it. An
    /// existing file is claimed (see SwapDevice+Exclusive.swift) before it is
    /// truncated, so a file in use keeps its contents.
    ///
    /// - Throws: `.invalidType`, `.labelTooLong`, `.tooSmall` (fewer than 2 pages),
    ///   `.tooLarge`, `.inUse`, `.activeSystemSwapArea`, or `.io` naming the system
    ///   call that failed (the file is then removed).
    public static func create(
        path: String, pages: Int, label: String? = nil, type: Int = 0,
        configuration: Configuration = .init()
    ) throws(SwapDeviceError) -> SwapDevice {
        let header = try newHeader(pages: pages, label: label, type: type)
        // No O_TRUNC: the file is not ours to change until it is claimed.
        let fd = systemOpen(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io(op: "open", errno: errno) }
        do throws(SwapDeviceError) {
            try claimExclusively(fd: fd, configuration: configuration)
        } catch {
            _ = closeFileDescriptor(fd)
            throw error
        }
        return try format(
            fd: fd, path: path, header: header, type: type, configuration: configuration,
            removeOnFailure: true)
    }

    /// Creates a swap file of `pages` pages in `directory` whose name is removed
    /// as soon as it is open: nothing is left behind however the process ends
    /// (a crash, a signal, a kill). `path` then names what the file was called.
    ///
    /// - Throws: as `create`.
    public static func createTemporary(
        in directory: String, pages: Int, label: String? = nil, type: Int = 0,
        configuration: Configuration = .init()
    ) throws(SwapDeviceError) -> SwapDevice {
        let header = try newHeader(pages: pages, label: label, type: type)
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        var fd: Int32 = -1
        var path = ""
        while fd < 0 {
            path = base + "zcache-swap-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).swap"
            fd = systemOpen(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                if errno == EEXIST { continue }
                throw .io(op: "open", errno: errno)
            }
        }
        unlink(path)
        do throws(SwapDeviceError) {
            try claimExclusively(fd: fd, configuration: configuration)
        } catch {
            _ = closeFileDescriptor(fd)
            throw error
        }
        return try format(
            fd: fd, path: path, header: header, type: type, configuration: configuration,
            removeOnFailure: false)
    }

    private static func newHeader(pages: Int, label: String?, type: Int) throws(SwapDeviceError)
        -> SwapHeader
    {
        guard (0..<SwapEntry.maxSwapFiles).contains(type) else { throw .invalidType(type) }
        guard pages >= 2 else { throw .tooSmall }
        guard pages - 1 <= Int(UInt32.max) else { throw .tooLarge }
        return try SwapHeader(lastPage: UInt32(pages - 1), label: label ?? "")
    }

    /// Sizes the claimed file `fd` to the header's pages (sparse), writes the
    /// header and syncs it, then starts the device.
    private static func format(
        fd: Int32, path: String, header: SwapHeader, type: Int, configuration: Configuration,
        removeOnFailure: Bool
    ) throws(SwapDeviceError) -> SwapDevice {
        func fail(_ op: String, _ code: Int32) -> SwapDeviceError {
            if removeOnFailure { _ = unlink(path) }
            _ = closeFileDescriptor(fd)
            return .io(op: op, errno: code)
        }
        let pages = off_t(header.lastPage) + 1
        // Truncating to 0 first drops the old contents, so the new file is sparse.
        guard ftruncate(fd, 0) == 0, ftruncate(fd, pages * off_t(pageSize)) == 0 else {
            throw fail("ftruncate", errno)
        }
        let page = PageBuffer()
        header.serialize(into: page.bytes)
        let syscalls = configuration.syscalls
        // `page` lives until the write is done (its deinit gives the block
        // back to the pool, which an optimised build may do after the last
        // use of `page`, before the write).
        let written = withExtendedLifetime(page) {
            syscalls.transferPage(.write, fd: fd, buffer: page.bytes, offset: 0)
        }
        if case .failure(let error) = written {
            throw fail("pwrite", error.errno)
        }
        let synced = syscalls.fsync(fd)
        guard synced == 0 else { throw fail("fsync", Int32(truncatingIfNeeded: -synced)) }
        return SwapDevice(
            path: path, fd: fd, type: type, header: header, configuration: configuration)
    }

    /// Opens an existing swap file (made by `mkswap` or by `create`), taking its
    /// size, UUID and label from the header.
    ///
    /// The file is claimed first (see SwapDevice+Exclusive.swift): a file another
    /// device holds, or that the kernel uses as swap, is refused as it is.
    ///
    /// - Throws: `.invalidType`; `.inUse`, `.activeSystemSwapArea`; for the
    ///   header: `.tooSmall`, `.noSwapMagic`,
    ///   `.foreignMagic`, `.unsupportedVersion`, `.lastPageBeyondEnd`,
    ///   `.badPagesListed`; or `.io` naming the system call that failed.
    public static func open(
        path: String, type: Int = 0, configuration: Configuration = .init()
    ) throws(SwapDeviceError) -> SwapDevice {
        guard (0..<SwapEntry.maxSwapFiles).contains(type) else { throw .invalidType(type) }
        let fd = systemOpen(path, O_RDWR | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .io(op: "open", errno: errno) }
        do throws(SwapDeviceError) {
            try claimExclusively(fd: fd, configuration: configuration)
            var status = stat()
            guard fstat(fd, &status) == 0 else {
                throw SwapDeviceError.io(op: "fstat", errno: errno)
            }
            let fileSize = Int64(status.st_size)
            guard fileSize >= Int64(pageSize) else { throw SwapDeviceError.tooSmall }
            let page = PageBuffer()
            if case .failure(let error) = configuration.syscalls.transferPage(
                .read, fd: fd, buffer: page.bytes, offset: 0)
            {
                throw SwapDeviceError.io(op: "pread", errno: error.errno)
            }
            let header: SwapHeader
            do {
                // `page` lives until the header is parsed (see `format`).
                header = try withExtendedLifetime(page) { () throws(SwapDeviceError) in
                    try SwapHeader.parse(UnsafeRawBufferPointer(page.bytes), fileSize: fileSize)
                }
            } catch .noSwapMagic {
                // A swap area made for larger pages keeps its magic further on.
                if let size = try largerPageSizeMagic(fd: fd, fileSize: fileSize, configuration) {
                    throw refused(
                        .foreignMagic("SWAPSPACE2 for \(size)-byte pages"), path, configuration)
                }
                throw refused(.noSwapMagic, path, configuration)
            } catch {
                throw refused(error, path, configuration)
            }
            return SwapDevice(
                path: path, fd: fd, type: type, header: header, configuration: configuration)
        } catch {
            _ = closeFileDescriptor(fd)
            throw error
        }
    }

    /// Logs a refused swap header and hands the error back to be thrown.
    private static func refused(
        _ error: SwapDeviceError, _ path: String, _ configuration: Configuration
    ) -> SwapDeviceError {
        configuration.logger?.warning(
            "swap file refused: \(error)", metadata: ["swap_file": "\(path)"])
        return error
    }

    /// The page size (8 KiB to 64 KiB) whose swap magic the file carries, if any.
    private static func largerPageSizeMagic(
        fd: Int32, fileSize: Int64, _ configuration: Configuration
    ) throws(SwapDeviceError) -> Int? {
        var tail = [UInt8](repeating: 0, count: SwapHeader.magicLength)
        for size in [8192, 16384, 65536] where fileSize >= Int64(size) {
            let result = tail.withUnsafeMutableBytes { bytes in
                configuration.syscalls.pread(fd, bytes, Int64(size - SwapHeader.magicLength))
            }
            guard result >= 0 else {
                throw .io(op: "pread", errno: Int32(truncatingIfNeeded: -result))
            }
            if result == tail.count && tail.elementsEqual(SwapHeader.magic.utf8) { return size }
        }
        return nil
    }

    // MARK: Asynchronous I/O

    /// Writes `buffer` to the slot of `entry`. The completion runs on an I/O worker,
    /// never on the caller's thread; this call blocks only while the queue is full
    /// (and never on an I/O worker: a completion's resubmission goes past the bound).
    /// An entry that is not a slot of this device completes with `.io(errno: EINVAL)`;
    /// after `close`, with `.closed`. Do not touch `buffer` until the completion runs.
    public func submitWrite(
        _ buffer: PageBuffer, at entry: SwapEntry,
        completion: @escaping @Sendable (Result<Void, SwapIOError>) -> Void
    ) {
        queue.submit(
            .init(
                direction: .write, buffer: buffer, byteOffset: byteOffset(of: entry),
                completion: completion))
    }

    /// Queues several requests under one queue lock with one worker wake.
    func submitRequests(_ requests: some Collection<SwapIOQueue.Request>) {
        queue.submit(requests)
    }

    /// Reads the slot of `entry` into `buffer`; otherwise as `submitWrite`.
    /// Reads go ahead of queued writes (someone usually waits for a read), so
    /// a read of a slot whose write is still queued may see the old contents:
    /// drain first, or keep the page until its write completes, as the swap
    /// cache does.
    public func submitRead(
        into buffer: PageBuffer, at entry: SwapEntry,
        completion: @escaping @Sendable (Result<Void, SwapIOError>) -> Void
    ) {
        queue.submit(
            .init(
                direction: .read, buffer: buffer, byteOffset: byteOffset(of: entry),
                completion: completion))
    }

    /// Reads the slot of `entry` into `page` (one page) on the calling thread
    /// and returns when it is there: a swap-in's read, with no queue and no I/O
    /// worker. Not ordered after queued writes, as `submitRead`; `.closed`
    /// once the device is closing, `EINVAL` for a page of another size or an
    /// entry that is not a slot here.
    public func read(_ entry: SwapEntry, into page: UnsafeMutableRawBufferPointer) -> Result<
        Void, SwapIOError
    > {
        guard page.count == pageSize else { return .failure(.io(errno: EINVAL)) }
        return queue.readOnCaller(into: page, byteOffset: byteOffset(of: entry))
    }

    /// Sleeps while someone else holds `entry`'s has-cache bit and has not yet
    /// put a page in the swap cache (`swapcache_prepare` said `.alreadyPrepared`),
    /// until the bit is cleared or the page appears.
    public func waitWhileBeingPrepared(_ entry: SwapEntry) {
        SwapEntryWaitTable.wait(on: entry) {
            slots.hasCache(entry) && !swapCache.hasPage(for: entry)
        }
    }

    /// Waits until every request submitted so far has completed (its completion
    /// has returned). Not to be called from a completion.
    public func drain() { queue.drain() }

    /// Drains, then `fsync`s the file; returns the fsync's error, if any.
    @discardableResult
    public func flush() -> Result<Void, SwapIOError> {
        queue.drain()
        return queue.fsync()
    }

    /// Drains, stops the I/O workers and closes the file. Idempotent; later
    /// submissions complete with `.closed`. On an I/O worker (a completion that
    /// drops the last reference to the device ends up here through `deinit`) it
    /// does not wait: the workers finish the queue and the last one closes the file.
    public func close() {
        queue.close()
    }

    /// Whether the calling thread is one of this device's I/O workers (for tests
    /// and assertions: completions run there).
    var isOnIOWorker: Bool { queue.isWorkerThread }

    /// The I/O counters.
    public var stats: SwapDeviceStats { queue.stats }

    /// The byte offset of `entry`'s slot, or nil if it is not a slot of this device.
    func byteOffset(of entry: SwapEntry) -> Int64? {
        guard entry.type == type, entry.offset > 0, entry.offset <= UInt64(header.lastPage) else {
            return nil
        }
        return Int64(entry.offset) * Int64(pageSize)
    }
}

extension SwapIOError {
    /// The errno to report when this error ends a create or open.
    var errno: Int32 {
        switch self {
        case .io(let code): code
        case .shortIO: EIO
        case .closed: EBADF
        }
    }
}

// The C calls under names that the methods above do not shadow.
#if canImport(Glibc)
    private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        Glibc.open(path, flags, mode)
    }
    func closeFileDescriptor(_ fd: Int32) -> Int32 { Glibc.close(fd) }
#elseif canImport(Musl)
    private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        Musl.open(path, flags, mode)
    }
    func closeFileDescriptor(_ fd: Int32) -> Int32 { Musl.close(fd) }
#elseif canImport(Darwin)
    private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        Darwin.open(path, flags, mode)
    }
    func closeFileDescriptor(_ fd: Int32) -> Int32 { Darwin.close(fd) }
#endif
