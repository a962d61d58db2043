// Reclaim, as the kernel's kswapd/direct reclaim does it (3.x, simplified):
//
//   free < low watermark  ->  one reclaim pass:
//     publish LRU counts; call the shrinker with them (shrink_slab)
//     repeat until free >= high watermark (or no progress):
//       age the active lists: if inactive < active, demote up to 32 pages from
//         the active tail to the inactive head, clearing referenced bits
//         (shrink_active_list; anon inactive ratio 1 at this size)
//       split 32 pages of scanning between anon and file by swappiness
//         (anon_prio = swappiness, file_prio = 200 - swappiness, weighted by
//         list size); if the inactive file list is not low, scan file only
//       scan the inactive tails (shrink_page_list):
//         anon referenced (PTE young)  -> activate (the promotion of anon)
//         anon otherwise               -> swap out: slot, frontswap, else device
//         file                         -> cleancache put, then drop (clean)
//
// "free" counts RAM minus resident pages, minus the cache's pageframes, minus
// pages that writeback took by forced allocation.

extension SimulatedHost {
    /// Makes sure there is a free page for a fault, reclaiming if needed.
    func makeRoom() {
        refreshCacheFrames()
        if ram.freePages < configuration.lowWatermark { reclaim() }
    }

    func refreshCacheFrames() {
        ram.cacheFrames.store(paths.framesInUse, ordering: .relaxed)
    }

    func reclaim() {
        counters.reclaimPasses += 1
        let counts = lruCounts
        ram.publish(counts)
        paths.shrink(counts: counts)
        refreshCacheFrames()
        var idleRounds = 0
        while ram.freePages < configuration.highWatermark, idleRounds < 4 {
            age(.activeAnon, into: .inactiveAnon)
            age(.activeFile, into: .inactiveFile)
            let (anonScan, fileScan) = scanSplit(batch: 32)
            var freed = 0
            freed += shrinkInactiveAnon(anonScan)
            freed += shrinkInactiveFile(fileScan)
            refreshCacheFrames()
            idleRounds = freed == 0 ? idleRounds + 1 : 0
        }
        if ram.freePages < configuration.lowWatermark { counters.reclaimStalls += 1 }
        ram.publish(lruCounts)
    }

    func age(_ active: LRUList, into inactive: LRUList) {
        var n = 0
        while n < 32, lru.count(inactive) < lru.count(active), let g = lru.tail(active) {
            lru.moveToHead(g, of: inactive)
            referenced[g] = false
            counters.demotions += 1
            n += 1
        }
    }

    func scanSplit(batch: Int) -> (anon: Int, file: Int) {
        let anon = lru.count(.activeAnon) + lru.count(.inactiveAnon)
        let file = lru.count(.activeFile) + lru.count(.inactiveFile)
        if lru.count(.inactiveFile) > lru.count(.activeFile), lru.count(.inactiveFile) >= batch {
            return (0, batch)
        }
        let anonWeight = Double(configuration.swappiness) * Double(anon)
        let fileWeight = Double(200 - configuration.swappiness) * Double(file)
        guard anonWeight + fileWeight > 0 else { return (0, 0) }
        let a = Int((Double(batch) * anonWeight / (anonWeight + fileWeight)).rounded())
        return (a, batch - a)
    }

    /// Scans up to `n` pages from the inactive anon tail; returns pages freed.
    func shrinkInactiveAnon(_ n: Int) -> Int {
        var freed = 0
        for _ in 0..<n {
            guard let g = lru.tail(.inactiveAnon) else { break }
            if referenced[g] {
                referenced[g] = false
                wasActive[g] = true
                lru.moveToHead(g, of: .activeAnon)
                counters.promotions += 1
                continue
            }
            content.fill(key(anon: g), into: buffer)
            do {
                swapEntry[g] = try paths.swapOut(
                    UnsafeRawBufferPointer(buffer), wasActive: wasActive[g])
            } catch {
                // No slot (or an I/O error): keep the page, as activate_locked does.
                counters.swapOutFailures += 1
                lru.moveToHead(g, of: .activeAnon)
                continue
            }
            counters.swapOuts += 1
            lru.remove(g)
            wasActive[g] = false
            ram.residentPages.subtract(1, ordering: .relaxed)
            freed += 1
        }
        return freed
    }

    /// Scans up to `n` pages from the inactive file tail; returns pages freed.
    func shrinkInactiveFile(_ n: Int) -> Int {
        var freed = 0
        for _ in 0..<n {
            guard let g = lru.tail(.inactiveFile) else { break }
            let (file, index) = fileIndex(g)
            content.fill(key(file: g), into: buffer)
            paths.cleancachePut(
                file: file, index: index, page: UnsafeRawBufferPointer(buffer),
                wasActive: wasActive[g])
            counters.reclaimedFilePages += 1
            lru.remove(g)
            referenced[g] = false
            wasActive[g] = false
            ram.residentPages.subtract(1, ordering: .relaxed)
            freed += 1
        }
        return freed
    }
}
