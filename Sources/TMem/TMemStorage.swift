// The storage side of TMem (the kernel's `struct tmem_pamops`).

/// What TMem needs from the side that owns page memory (ZCache).
///
/// TMem never sees page bytes. The kernel's `pamops` become:
/// - *create*: the storage side compresses and allocates a handle **before**
///   calling ``TMem/put(_:handle:)`` (so no TMem lock is held while compressing);
/// - *read* and *read-and-free*: the closure passed to ``TMem/get(_:ifHandle:forceRemove:_:)``,
///   run with the bucket lock held; with `removed == true` it owns the handle and
///   frees it itself;
/// - *free*: ``free(_:key:)`` below, for every handle TMem drops on its own
///   (duplicate put, flushes, destroyed pools, failed non-removing reads).
///
/// Each handle that a successful put stored leaves TMem exactly once: through a
/// removing get (to the read closure) or through `free`.
public protocol TMemStorage: AnyObject, Sendable {
    /// The storage side's name for one stored page (for ZCache: a zbud slot).
    associatedtype Handle: Equatable & Sendable

    /// Releases the storage behind `handle`, which TMem has just removed from `key`.
    ///
    /// Runs with a TMem bucket lock held: it must be cheap, must not block on
    /// anything that may wait for TMem, and must not call into TMem (lock order:
    /// TMem bucket lock, then storage locks).
    func free(_ handle: Handle, key: TMemKey)
}
