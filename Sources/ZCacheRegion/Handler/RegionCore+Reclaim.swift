#if os(Linux)
    import CUserfaultfd
    import Glibc
    import ZCache

    extension RegionCore {
        /// Drops one mapped page, chosen by the clock. Returns false when none
        /// could be dropped (nothing mapped, or the cache and the device both
        /// refused the page, which then stays mapped).
        func reclaimOne() -> Bool {
            let start = monotonicNanoseconds()
            defer { local.reclaimNanoseconds &+= monotonicNanoseconds() &- start }
            while let index = clock.popOldest() {
                guard case .resident(var resident) = states[index] else {
                    preconditionFailure("the clock holds page \(index), which is not resident")
                }
                if policy == .clock && resident.referenced {
                    // Second chance; protect it again so its next write is seen.
                    resident.referenced = false
                    if !resident.writeProtected {
                        check(uffd.writeProtect(address(of: index), true), "UFFDIO_WRITEPROTECT")
                        resident.writeProtected = true
                    }
                    states[index] = .resident(resident)
                    clock.append(index)
                    local.secondChances += 1
                    continue
                }
                if drop(index, resident) { return true }
                clock.append(index)
                return false
            }
            return false
        }

        /// Stores the page unless its copy is still exact, then zaps it.
        ///
        /// A dirty page is write-protected before it is copied, so a thread
        /// writing it from then on faults and waits for this thread; its
        /// message is served after the drop, as a missing page.
        private func drop(_ index: Int, _ resident: ResidentPage) -> Bool {
            let page = address(of: index)
            let next: PageState
            switch resident.clean {
            case .zero:
                next = .untouched
                local.touchedPages -= 1
                local.cleanDrops += 1
                local.cleanResidentPages -= 1
            case .stored(let entry):
                next = .stored(entry)
                local.cleanDrops += 1
                local.cleanResidentPages -= 1
            case nil:
                var protected = resident
                if !protected.writeProtected {
                    let rc = uffd.writeProtect(page, true)
                    guard rc == 0 else {
                        check(rc, "UFFDIO_WRITEPROTECT")
                        return false
                    }
                    protected.writeProtected = true
                    states[index] = .resident(protected)
                }
                let copied = cuffd_copy_from_self(scratch, page, UInt64(pageSize))
                guard copied == 0 else {
                    check(copied, "process_vm_readv")
                    return false
                }
                do {
                    let entry = try cache.swapOut(
                        page: UnsafeRawBufferPointer(start: scratch, count: pageSize),
                        type: swapType)
                    next = .stored(entry)
                    local.dirtyStores += 1
                } catch {
                    local.storeFailures += 1
                    local.lastError = "store of page \(index): \(error)"
                    return false
                }
            }
            _ = madvise(page, pageSize, MADV_DONTNEED)
            if case .stored = next { local.storedPages += 1 }
            states[index] = next
            mapped -= 1
            local.reclaimedPages += 1
            return true
        }
    }
#endif
