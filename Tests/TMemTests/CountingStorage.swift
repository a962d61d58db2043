// A storage side for tests: handles are unique numbers, and every release of a
// handle (by TMem's `free` or by a read closure that owns it) is counted, so a
// test can prove each stored handle leaves TMem exactly once.

import TMem
import ZCacheSupport

final class CountingStorage: TMemStorage, @unchecked Sendable {
    typealias Handle = UInt64

    private struct State {
        var nextHandle: UInt64 = 1
        var releases: [UInt64: Int] = [:]
        var releasedSinceMark: [UInt64] = []
        var freedKeys: [UInt64: TMemKey] = [:]
    }

    private let state = LockedValue(State())

    /// A handle never handed out before.
    func makeHandle() -> UInt64 {
        state.withLock { state in
            defer { state.nextHandle += 1 }
            return state.nextHandle
        }
    }

    func free(_ handle: UInt64, key: TMemKey) {
        state.withLock { state in
            state.freedKeys[handle] = key
        }
        release(handle)
    }

    /// What a read closure that owns a removed handle does with it.
    func release(_ handle: UInt64) {
        state.withLock { state in
            state.releases[handle, default: 0] += 1
            state.releasedSinceMark.append(handle)
        }
    }

    /// How many times `handle` was released (freed or read-and-freed).
    func releases(of handle: UInt64) -> Int {
        state.withLock { $0.releases[handle] ?? 0 }
    }

    /// The key `free` was given for `handle`.
    func freedKey(of handle: UInt64) -> TMemKey? {
        state.withLock { $0.freedKeys[handle] }
    }

    /// Every handle released so far, with its count.
    var allReleases: [UInt64: Int] { state.withLock { $0.releases } }

    /// Handles released since the last call, sorted.
    func takeReleasedSinceMark() -> [UInt64] {
        state.withLock { state in
            defer { state.releasedSinceMark = [] }
            return state.releasedSinceMark.sorted()
        }
    }
}

extension TMem where Storage == CountingStorage {
    /// Puts a fresh handle at `key`; returns it.
    @discardableResult
    func putNew(_ key: TMemKey) throws(TMemError) -> UInt64 {
        let handle = storage.makeHandle()
        try put(key, handle: handle)
        return handle
    }

    /// A get whose read succeeds: returns the handle, releasing it if removed.
    func getHandle(_ key: TMemKey, ifHandle: UInt64? = nil, forceRemove: Bool = false) throws(TMemError)
        -> UInt64?
    {
        try get(key, ifHandle: ifHandle, forceRemove: forceRemove) { handle, removed in
            if removed { storage.release(handle) }
            return handle
        }
    }
}
