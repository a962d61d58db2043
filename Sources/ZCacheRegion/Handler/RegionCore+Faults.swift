#if os(Linux)
    import CUserfaultfd
    import Glibc
    import ZCache

    extension RegionCore {
        /// Serves one fault message (on the handler thread).
        ///
        ///   resident, write-protected, WP fault -> the page is written: it is
        ///                                          dirty now; drop its copy, unprotect
        ///   resident otherwise                  -> already served: wake the thread
        ///   untouched or stored                 -> map it (wakes), then if the
        ///                                          region is full, reclaim one page
        func serve(_ fault: cuffd_fault) {
            let start = monotonicNanoseconds()
            let offset = Int(bitPattern: UInt(fault.address)) &- Int(bitPattern: base)
            guard offset >= 0, offset < pages * pageSize else { return }
            let index = offset >> pageShift
            let page = address(of: index)
            let isWrite = fault.flags & cuffd_pagefault_flag_write != 0
            let isWriteProtectFault = fault.flags & cuffd_pagefault_flag_wp != 0
            switch states[index] {
            case .resident(var resident):
                if isWriteProtectFault && resident.writeProtected {
                    let copy = resident.clean
                    if copy != nil { local.cleanResidentPages -= 1 }
                    resident.clean = nil
                    resident.writeProtected = false
                    resident.referenced = true
                    states[index] = .resident(resident)
                    check(uffd.writeProtect(page, false), "UFFDIO_WRITEPROTECT (unprotect)")
                    // After the wake: the writer need not wait for the cache.
                    if case .stored(let entry) = copy { cache.swapFree(entry) }
                    local.writeProtectFaults += 1
                } else {
                    check(uffd.wake(page), "UFFDIO_WAKE")
                    local.spuriousFaults += 1
                }
                publish()
            case .untouched, .stored:
                // Full only when one batch brought several faults: reclaim
                // after each fault normally leaves a free slot.
                if mapped >= residentLimit {
                    local.directReclaims += 1
                    if !reclaimOne() { local.limitOverruns += 1 }
                }
                var parts = FaultParts()
                let source = map(index, forWrite: isWrite, parts: &parts)
                // The service ends with the page mapped; the wake hands the
                // CPU to the faulting thread (often preempting this one), so
                // it is timed on its own.
                let mappedAt = monotonicNanoseconds()
                check(uffd.wake(page), "UFFDIO_WAKE")
                parts.wake = monotonicNanoseconds() &- mappedAt
                switch source {
                case .zero: local.zeroFaults += 1
                case .zcache: local.zcacheFaults += 1
                case .swapCache: local.swapCacheFaults += 1
                case .device: local.deviceFaults += 1
                case .lost: local.lostPages += 1
                }
                publish(serviceNanoseconds: mappedAt &- start, source: source, parts: parts)
                // Make room for the next fault now, while the woken thread runs.
                if mapped >= residentLimit, reclaimOne() { publish() }
            }
        }

        /// Maps a page that is not resident, from the zero page or its swap
        /// entry, without waking the threads waiting on it.
        private func map(_ index: Int, forWrite isWrite: Bool, parts: inout FaultParts)
            -> FaultSource
        {
            let page = address(of: index)
            let source: FaultSource
            var resident = ResidentPage(clean: nil, writeProtected: false, referenced: true)
            switch states[index] {
            case .resident:
                preconditionFailure("map called for a resident page")
            case .untouched:
                local.touchedPages += 1
                source = .zero
                if isWrite {
                    install(page, from: zeros, writeProtect: false)
                } else {
                    // The shared zero page, write-protected before anyone runs
                    // on it, so its first write is seen and it stays clean till then.
                    check(uffd.mapZeroPageWithoutWaking(page), "UFFDIO_ZEROPAGE")
                    check(uffd.writeProtect(page, true), "UFFDIO_WRITEPROTECT")
                    resident.clean = .zero
                    resident.writeProtected = true
                }
            case .stored(let entry):
                local.storedPages -= 1
                // A second reference keeps the entry (and its copy, when gets
                // are not exclusive) past the swap-in, which drops one.
                let keep =
                    keepsStoredCopies && !isWrite
                    && cache.swapDevice(type: entry.type)?.slots.duplicate(entry) == true
                let loadStart = monotonicNanoseconds()
                source = swapIn(entry, keepingCopy: keep)
                let copyStart = monotonicNanoseconds()
                parts.load = copyStart &- loadStart
                if source == .lost {
                    install(page, from: zeros, writeProtect: false)
                } else {
                    install(page, from: scratch, writeProtect: keep)
                    parts.copy = monotonicNanoseconds() &- copyStart
                    if keep {
                        resident.clean = .stored(entry)
                        resident.writeProtected = true
                    }
                }
            }
            if resident.clean != nil { local.cleanResidentPages += 1 }
            states[index] = .resident(resident)
            clock.append(index)
            mapped += 1
            return source
        }

        /// `ZCache.swapIn` into the scratch page, retried on failure (a device
        /// read error keeps the entry). Gives up after three tries: the entry's
        /// references are dropped and the page is lost (counted).
        private func swapIn(_ entry: SwapEntry, keepingCopy keep: Bool) -> FaultSource {
            let destination = UnsafeMutableRawBufferPointer(start: scratch, count: pageSize)
            for _ in 0..<3 {
                do {
                    switch try cache.swapIn(entry, into: destination) {
                    case .zcache: return .zcache
                    case .swapCache: return .swapCache
                    case .device: return .device
                    // The region's caches write back to the swap file; a page
                    // from a remote tier is counted with the device's, below zcache.
                    case .remote: return .device
                    }
                } catch {
                    local.swapInRetries += 1
                    local.lastError = "swap-in of \(entry): \(error)"
                }
            }
            cache.swapFree(entry)
            if keep { cache.swapFree(entry) }
            return .lost
        }

        /// `UFFDIO_COPY` of one page, not waking the waiters. A page found
        /// already mapped can only be one the kernel mapped behind our back:
        /// it is zapped and the copy retried once.
        private func install(
            _ page: UnsafeMutableRawPointer, from source: UnsafeRawPointer, writeProtect: Bool
        ) {
            var rc = uffd.copy(to: page, from: source, writeProtect: writeProtect, wake: false)
            if rc == -EEXIST {
                _ = madvise(page, pageSize, MADV_DONTNEED)
                rc = uffd.copy(to: page, from: source, writeProtect: writeProtect, wake: false)
            }
            check(rc, "UFFDIO_COPY")
        }

        @inline(__always)
        func address(of index: Int) -> UnsafeMutableRawPointer {
            base + index << pageShift
        }

        /// Records a failed ioctl (there is no caller to throw to: the faulting
        /// thread is asleep in the kernel).
        @inline(__always)
        func check(_ rc: Int32, _ call: StaticString) {
            if rc != 0 { local.lastError = "\(call): errno \(-rc)" }
        }
    }
#endif
