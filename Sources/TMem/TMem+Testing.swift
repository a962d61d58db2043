// Invariant checks, for checked (debug) builds and for tests.

extension Bucket {
    /// The cheap check run after every page operation in checked builds: an
    /// object is present only while it has pages. Lock held.
    func checkObject(_ object: ObjectID) {
        if let position = objects.index(forKey: object) {
            precondition(!objects.values[position].isEmpty, "\(object) kept with no pages")
        }
        precondition(pageCount.load(ordering: .relaxed) >= 0, "negative page count")
    }
}

extension TMem {
    /// Walks every live pool (taking each bucket lock in turn) and checks that
    /// every object sits in its hash bucket with a non-empty, well-formed page
    /// map, that bucket page counts add up, and, when `quiescent` (no other
    /// thread using the store), that `obj_count` equals the objects found.
    ///
    /// - Returns: the handles found, by key.
    @discardableResult
    package func checkInvariants(quiescent: Bool = true) -> [TMemKey: Handle] {
        var found: [TMemKey: Handle] = [:]
        var objects = 0
        registry.withLock { registry in
            for case let pool? in registry.pools where pool.liveKind != nil {
                for bucket in pool.buckets {
                    bucket.lock.withLock {
                        var pages = 0
                        for (object, map) in bucket.objects {
                            precondition(pool.bucket(for: object) === bucket, "\(object) in wrong bucket")
                            precondition(!map.isEmpty, "\(object) kept with no pages")
                            map.checkInvariants()
                            pages += map.count
                            objects += 1
                            map.forEach { index, handle in
                                found[TMemKey(pool: pool.id, object: object, index: index)] = handle
                            }
                        }
                        precondition(pages == bucket.pageCount.load(ordering: .relaxed), "page count")
                    }
                }
            }
        }
        if quiescent {
            precondition(objects == counters.objCount.load(ordering: .relaxed), "obj_count")
        }
        return found
    }
}
