// Internal consistency checks, compiled in under ZCACHE_INTERNAL_CHECKS.
//
// `checkFrame` runs after every operation on the frame it touched (O(1));
// `checkInvariants` walks everything and is called by the tests.

extension ZBud {
    /// Checks every invariant of the module header (a no-op unless built with
    /// ZCACHE_INTERNAL_CHECKS):
    /// - every live frame is on exactly the bud list its chunk count says
    ///   (unbuddied[c] with one bud of c chunks, buddied with two) and on the
    ///   LRU list; zombies are on the zombie list only; dying and free frames
    ///   on no list;
    /// - the chunks of a frame's buds fit (each <= 63, together <= 64);
    /// - the lists are well linked, and the non-empty bitmap matches them;
    /// - the counters equal what the frames hold: pageframes, zpages, zbytes,
    ///   buddied, unbuddied and zombie counts.
    package func checkInvariants() {
        #if ZCACHE_INTERNAL_CHECKS
            lock.withLock { checkAll() }
        #endif
    }

    #if ZCACHE_INTERNAL_CHECKS
        /// Checks one frame's state against its list membership. Under the lock.
        func checkFrame(_ index: Int) {
            let frame = frames[index]
            guard frame.flags.contains(.inUse) else {
                precondition(frame.flags.isEmpty && frame.size0 == 0 && frame.size1 == 0)
                precondition(!budLists.isLinked(index) && !lruLists.isLinked(index))
                return
            }
            precondition(frame.address != nil, "frame \(index): in use without an address")
            if frame.flags.contains(.dying) {
                precondition(!frame.flags.contains(.zombie), "frame \(index): dying zombie")
                precondition(busy(index).isEmpty, "frame \(index): dying and busy")
                precondition(!budLists.isLinked(index) && !lruLists.isLinked(index))
                return
            }
            precondition(frame.budCount > 0, "frame \(index): live but empty")
            let chunks0 = frame.size0 == 0 ? 0 : Self.chunks(storedSize: Int(frame.size0))
            let chunks1 = frame.size1 == 0 ? 0 : Self.chunks(storedSize: Int(frame.size1))
            precondition(chunks0 <= Self.maxBudChunks && chunks1 <= Self.maxBudChunks)
            precondition(chunks0 + chunks1 <= Self.chunksPerFrame, "frame \(index): buds overlap")
            for bud in 0..<2 where busy(index).contains(.busy(bud)) {
                precondition(frame.size(bud) != 0, "frame \(index): busy bud \(bud) is empty")
            }
            precondition(lruLists.isLinked(index), "frame \(index): off the LRU/zombie lists")
            if frame.flags.contains(.zombie) {
                precondition(!budLists.isLinked(index), "frame \(index): zombie on a bud list")
                precondition(busy(index).isEmpty, "frame \(index): busy zombie")
            } else {
                precondition(budLists.isLinked(index), "frame \(index): off the bud lists")
            }
        }

        /// The whole check. Under the lock.
        private func checkAll() {
            // Where each frame should be: bud list and LRU list (-1: none).
            var expectedBudList = [Int](repeating: -1, count: frameCount)
            var expectedLRUList = [Int](repeating: -1, count: frameCount)
            var expected = ZBudStats()
            for index in 0..<frameCount {
                checkFrame(index)
                let frame = frames[index]
                guard frame.flags.contains(.inUse) else { continue }
                expected.pageframes += 1
                if frame.flags.contains(.dying) { continue }
                expected.zpages += frame.budCount
                expected.zbytes += Int(frame.size0) + Int(frame.size1)
                if frame.budCount == 2 {
                    expected.buddiedCount += 1
                } else {
                    expected.unbuddiedCount += 1
                }
                if frame.flags.contains(.zombie) {
                    expected.zombieCount += 1
                    expectedLRUList[index] = Self.zombieList
                } else {
                    expectedLRUList[index] = Self.lruList
                    expectedBudList[index] =
                        frame.budCount == 2
                        ? Self.buddiedList
                        : Self.chunks(storedSize: Int(max(frame.size0, frame.size1)))
                }
            }
            var expectedOnBudLists = 0
            var expectedOnLRULists = 0
            for index in 0..<frameCount {
                if expectedBudList[index] >= 0 { expectedOnBudLists += 1 }
                if expectedLRUList[index] >= 0 { expectedOnLRULists += 1 }
            }
            var seenOnBudLists = 0
            var nonEmpty: UInt64 = 0
            var list = 1
            while list <= Self.buddiedList {
                let members = budLists.forEachMember(of: list) { index in
                    precondition(
                        expectedBudList[index] == list,
                        "frame \(index) on bud list \(list), expected \(expectedBudList[index])")
                }
                seenOnBudLists += members
                if list < Self.buddiedList && members > 0 { nonEmpty |= 1 << UInt64(list) }
                list += 1
            }
            precondition(budLists.isEmpty(0), "unbuddied[0] is used")
            precondition(
                seenOnBudLists == expectedOnBudLists, "a live frame is missing from the bud lists")
            precondition(
                nonEmpty == counters.pointee.unbuddiedNonEmpty, "unbuddied bitmap disagrees")
            var seenOnLRULists = 0
            for list in Self.lruList...Self.zombieList {
                seenOnLRULists += lruLists.forEachMember(of: list) { index in
                    precondition(
                        expectedLRUList[index] == list,
                        "frame \(index) on LRU list \(list), expected \(expectedLRUList[index])")
                }
            }
            precondition(
                seenOnLRULists == expectedOnLRULists, "a live frame is missing from the LRU lists")
            let actual = counters.pointee.stats
            precondition(
                actual.pageframes == expected.pageframes,
                "pageframes \(actual.pageframes) != \(expected.pageframes)")
            precondition(
                actual.zpages == expected.zpages, "zpages \(actual.zpages) != \(expected.zpages)")
            precondition(
                actual.zbytes == expected.zbytes, "zbytes \(actual.zbytes) != \(expected.zbytes)")
            precondition(actual.buddiedCount == expected.buddiedCount, "buddied count disagrees")
            precondition(
                actual.unbuddiedCount == expected.unbuddiedCount, "unbuddied count disagrees")
            precondition(actual.zombieCount == expected.zombieCount, "zombie count disagrees")
            precondition(actual.cumulZpages >= actual.zpages && actual.cumulZbytes >= actual.zbytes)
        }
    #endif
}
