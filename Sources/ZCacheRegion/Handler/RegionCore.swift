#if os(Linux)
    import CUserfaultfd
    import Foundation
    import Glibc
    import ZCache
    import ZCacheSupport

    /// The mapping, the userfaultfd, and the fault-handler thread that owns the
    /// page states (see the picture in ZCacheRegion.swift).
    ///
    /// Fields in the "handler" group are touched only by the handler thread
    /// while it runs, and by `shutdown` after it has exited (its exit is
    /// published under `lock`). `shared` is guarded by `lock`.
    final class RegionCore: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let pages: Int
        let residentLimit: Int
        /// Idle reclaim stops here, so a burst of R/16 faults finds room.
        let lowWatermark: Int
        let cache: ZCache
        let swapType: Int
        let policy: ReclaimPolicy
        /// A read fault may keep the page's swap entry (the load leaves the copy
        /// in the cache) only when the cache's gets are not exclusive.
        let keepsStoredCopies: Bool
        let uffd: Userfaultfd
        let shutdownEvent: Int32

        // Handler group.
        var states: [PageState]
        var clock: PageClock
        var mapped = 0
        var local = ZCacheRegionStatistics()
        /// One page for swap-in and swap-out, page-aligned; and one of zeros.
        let scratch: UnsafeMutableRawPointer
        let zeros: UnsafeMutableRawPointer
        let faultBuffer: UnsafeMutableBufferPointer<cuffd_fault>

        // Shared group.
        let lock = Lock()
        let changed: LockCondition
        var shared = SharedCounters()
        var idle = false
        var exited = false
        var shutDown = false

        struct SharedCounters {
            var statistics = ZCacheRegionStatistics()
            var zeroService = LatencyHistogram()
            var zcacheService = LatencyHistogram()
            var otherService = LatencyHistogram()
            var zcacheLoad = LatencyHistogram()
            var zcacheCopy = LatencyHistogram()
            var wake = LatencyHistogram()
        }

        init(
            pages: Int, residentLimit: Int, cache: ZCache, swapType: Int, policy: ReclaimPolicy
        ) throws(ZCacheRegionError) {
            let length = pages * pageSize
            guard
                let mapping = mmap(
                    nil, length, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0), mapping != MAP_FAILED
            else { throw .systemCall("mmap", errno: errno) }
            // userfaultfd resolves 4 KiB pages; a huge page would be one fault
            // for 512 of them and could not be dropped page by page.
            _ = madvise(mapping, length, MADV_NOHUGEPAGE)
            let descriptor: Userfaultfd
            do throws(ZCacheRegionError) {
                descriptor = try Userfaultfd()
                try descriptor.register(mapping, length: length)
            } catch {
                munmap(mapping, length)
                throw error
            }
            let event = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
            guard event >= 0 else {
                let code = errno
                descriptor.unregister(mapping, length: length)
                munmap(mapping, length)
                throw .systemCall("eventfd", errno: code)
            }
            base = mapping
            self.pages = pages
            self.residentLimit = residentLimit
            lowWatermark = residentLimit - max(1, residentLimit / 16)
            self.cache = cache
            self.swapType = swapType
            self.policy = policy
            keepsStoredCopies = !cache.configuration.exclusiveGets
            uffd = descriptor
            shutdownEvent = event
            states = Array(repeating: .untouched, count: pages)
            clock = PageClock(capacity: residentLimit)
            scratch = .allocate(byteCount: pageSize, alignment: pageSize)
            zeros = .allocate(byteCount: pageSize, alignment: pageSize)
            zeros.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
            faultBuffer = .allocate(capacity: 64)
            changed = LockCondition(lock)
            local.pages = pages
            local.residentLimit = residentLimit
            shared.statistics = local

            let thread = Thread { [self] in run() }
            thread.name = "zcache-region-faults"
            thread.start()
        }

        deinit {
            scratch.deallocate()
            zeros.deallocate()
            faultBuffer.deallocate()
        }

        // MARK: The handler loop

        /// Serves faults as they come; when none is pending, reclaims down to
        /// the low watermark a page at a time (looking for faults between two);
        /// then sleeps in poll until a fault or the shutdown event.
        private func run() {
            var failure: Int32 = 0
            loop: while true {
                let count = uffd.readFaults(into: faultBuffer)
                if count < 0 {
                    failure = -count
                    break
                }
                if count > 0 {
                    for fault in faultBuffer[..<Int(count)] { serve(fault) }
                    continue
                }
                if mapped > lowWatermark, reclaimOne() {
                    publish()
                    continue
                }
                setIdle(true)
                var descriptors = [
                    pollfd(fd: uffd.fd, events: Int16(POLLIN), revents: 0),
                    pollfd(fd: shutdownEvent, events: Int16(POLLIN), revents: 0),
                ]
                while poll(&descriptors, 2, -1) < 0 {
                    guard errno == EINTR else {
                        failure = errno
                        break loop
                    }
                }
                if descriptors[1].revents != 0 { break }
                setIdle(false)
            }
            lock.withLock {
                if failure != 0 {
                    shared.statistics.lastError = "userfaultfd read/poll: errno \(failure)"
                }
                exited = true
                idle = true
                changed.broadcast()
            }
        }

        private func setIdle(_ value: Bool) {
            lock.withLock {
                idle = value
                if value { changed.broadcast() }
            }
        }

        /// Copies the handler's counters to where `statistics()` reads them.
        func publish() {
            local.residentPages = mapped
            local.residentPagesMax = max(local.residentPagesMax, mapped)
            lock.withLock { shared.statistics = local }
        }

        /// Like `publish`, also recording one fault's service time (and for a
        /// zcache fault, its load and copy parts).
        func publish(serviceNanoseconds: UInt64, source: FaultSource, parts: FaultParts) {
            local.residentPages = mapped
            local.residentPagesMax = max(local.residentPagesMax, mapped)
            lock.withLock {
                shared.statistics = local
                shared.wake.record(parts.wake)
                switch source {
                case .zero: shared.zeroService.record(serviceNanoseconds)
                case .zcache:
                    shared.zcacheService.record(serviceNanoseconds)
                    shared.zcacheLoad.record(parts.load)
                    shared.zcacheCopy.record(parts.copy)
                case .swapCache, .device, .lost: shared.otherService.record(serviceNanoseconds)
                }
            }
        }

        // MARK: For the region

        func statistics() -> ZCacheRegionStatistics {
            var snapshot = lock.withLock { () -> ZCacheRegionStatistics in
                var snapshot = shared.statistics
                snapshot.zeroFaultService = LatencySummary(shared.zeroService)
                snapshot.zcacheFaultService = LatencySummary(shared.zcacheService)
                snapshot.otherFaultService = LatencySummary(shared.otherService)
                snapshot.zcacheFaultLoad = LatencySummary(shared.zcacheLoad)
                snapshot.zcacheFaultCopy = LatencySummary(shared.zcacheCopy)
                snapshot.wakeAfterFault = LatencySummary(shared.wake)
                return snapshot
            }
            let cacheStatistics = cache.statistics
            snapshot.cacheCompressedBytes =
                cacheStatistics.zcache.persZBytes + cacheStatistics.zcache.ephZBytes
            snapshot.cachePageframes = cacheStatistics.framePool.framesInUse
            return snapshot
        }

        func waitUntilIdle() {
            lock.withLock {
                while !idle { changed.wait() }
            }
        }

        /// Stops the handler, then (owning the page states now) unmaps the
        /// region and frees every swap entry it held.
        func shutdown() {
            let first = lock.withLock { () -> Bool in
                defer { shutDown = true }
                return !shutDown
            }
            guard first else { return }
            var one: UInt64 = 1
            _ = write(shutdownEvent, &one, 8)
            lock.withLock {
                while !exited { changed.wait() }
            }
            let length = pages * pageSize
            uffd.unregister(base, length: length)
            munmap(base, length)
            for state in states {
                switch state {
                case .stored(let entry): cache.swapFree(entry)
                case .resident(let page):
                    if case .stored(let entry) = page.clean { cache.swapFree(entry) }
                case .untouched: break
                }
            }
            states = []
            close(shutdownEvent)
        }
    }

    /// Where a fault's page came from.
    enum FaultSource {
        case zero, zcache, swapCache, device
        /// Could not be read back; mapped as zeros and counted.
        case lost
    }

    /// How long a fault's load (swap-in), copy (`UFFDIO_COPY`) and wake took.
    struct FaultParts {
        var load: UInt64 = 0
        var copy: UInt64 = 0
        var wake: UInt64 = 0
    }

    /// Nanoseconds on the monotonic clock.
    @inline(__always)
    func monotonicNanoseconds() -> UInt64 { MonotonicClock.nanoseconds() }
#endif
