// Accesses and faults: a process touches an anonymous or a file page; if the
// page is not resident, a free page is found (reclaiming if RAM is below the
// low watermark) and the page is brought in and verified.
//
//   anon, never touched   first touch: zero-fill-on-demand then the write;
//                         goes on the active anon list (3.x's
//                         lru_cache_add_active_or_unevictable)
//   anon, swapped         swap in (swap cache, compressed cache, device),
//                         verify, free the swap entry; inactive anon list,
//                         PTE young
//   file, not resident    cleancache get (verify on a hit), else read the
//                         file; inactive file list, then mark_page_accessed
//   resident              anon: PTE young; file: mark_page_accessed
//                         (inactive+referenced -> active)

extension SimulatedHost {
    func accessAnon(process: Int) {
        counters.anonAccesses += 1
        let per = configuration.anonPagesPerProcess
        let page: Int
        switch configuration.pattern {
        case .uniform:
            page = rng.below(per)
        case .zipf:
            page = scatter(anonZipf.sample(&rng), count: per, salt: UInt64(process))
        case .phased:
            let phase = UInt64(counters.steps / max(1, configuration.phaseLength))
            page = scatter(
                anonZipf.sample(&rng), count: per, salt: UInt64(process) &* 0x1_0000 &+ phase)
        }
        touchAnon(process * per + page)
        if rng.unit() < configuration.writeRatio { write(process * per + page) }
    }

    /// An access to anon page `g`: faults it in (first touch or swap-in) when
    /// it is not resident.
    func touchAnon(_ g: Int) {
        if isResident(g) {
            referenced[g] = true
        } else {
            makeRoom()
            if let entry = swapEntry[g] {
                readBack(page: g, entry: entry)
                swapEntry[g] = nil
                lru.addHead(g, to: .inactiveAnon)
                referenced[g] = true
                wasActive[g] = false
            } else {
                counters.firstTouches += 1
                version[g] = 1
                lru.addHead(g, to: .activeAnon)
                referenced[g] = false
                wasActive[g] = true
            }
            ram.residentPages.add(1, ordering: .relaxed)
        }
    }

    /// A store to resident anon page `g`: its contents change (a new version).
    func write(_ g: Int) {
        counters.writes += 1
        version[g] &+= 1
        if version[g] == 0 { version[g] = 1 }
    }

    /// Spreads ranks over the process's pages so hot pages are not adjacent,
    /// and (with a new salt) moves the hot set somewhere else.
    @inline(__always)
    func scatter(_ rank: Int, count: Int, salt: UInt64) -> Int {
        let offset = Int(splitMix(salt) % UInt64(count))
        // 7919 is prime, so for counts it does not divide this is a bijection
        // of 0..<count; otherwise fall back to a rotation.
        let stride = count % 7919 == 0 ? 1 : 7919
        return (rank &* stride &+ offset) % count
    }

    func accessFile(process: Int) {
        counters.fileAccesses += 1
        let filePages = configuration.filePages
        let f: Int
        if scanLeft[process] > 0 {
            f = scanNext[process]
            scanNext[process] = (f + 1) % filePages
            scanLeft[process] -= 1
        } else if rng.below(2) == 0 {
            // Start a sequential scan of 16..<256 pages somewhere in a file.
            f = rng.below(filePages)
            scanNext[process] = (f + 1) % filePages
            scanLeft[process] = 15 + rng.below(240)
        } else {
            f = fileZipf.sample(&rng)
        }
        touchFile(configuration.anonPages + f)
    }

    /// A read of file page `g` (numbered after every anon page): from the page
    /// cache, else cleancache, else the file.
    func touchFile(_ g: Int) {
        if isResident(g) {
            markPageAccessed(g)
            return
        }
        makeRoom()
        counters.fileFaults += 1
        let (file, index) = fileIndex(g)
        if paths.cleancacheGet(file: file, index: index, into: buffer) {
            counters.cleancacheHits += 1
            verify(key(file: g), UnsafeRawBufferPointer(buffer))
        } else {
            counters.fileReads += 1  // "read the file": its contents are the content function
        }
        lru.addHead(g, to: .inactiveFile)
        referenced[g] = false
        wasActive[g] = false
        ram.residentPages.add(1, ordering: .relaxed)
        markPageAccessed(g)
    }

    /// The kernel's mark_page_accessed for page-cache pages.
    func markPageAccessed(_ g: Int) {
        if lru.list(of: g) == .inactiveFile, referenced[g] {
            lru.moveToHead(g, of: .activeFile)
            referenced[g] = false
            wasActive[g] = true
            counters.promotions += 1
        } else {
            referenced[g] = true
        }
    }

    /// Swaps in anon page `g` from `entry` into the buffer and verifies it.
    /// The entry is consumed either way (a failed one is freed: the page is lost).
    func readBack(page g: Int, entry: Paths.Entry) {
        counters.swapIns += 1
        do {
            switch try paths.swapIn(entry, into: buffer) {
            case .swapCache: counters.swapInsFromSwapCache += 1
            case .compressedCache: counters.swapInsFromCompressedCache += 1
            case .device: counters.swapInsFromDevice += 1
            case .remoteTier: counters.swapInsFromRemote += 1
            }
            verify(key(anon: g), UnsafeRawBufferPointer(buffer))
        } catch {
            counters.lostPages += 1
            paths.swapFree(entry)
        }
    }

    func verify(_ key: PageKey, _ page: UnsafeRawBufferPointer) {
        if content.verify(key, page, scratch: scratch) {
            counters.verifiedPages += 1
        } else {
            counters.lostPages += 1
        }
    }
}
