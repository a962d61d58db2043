// The swap devices attached to a cache, by swap type, looked up without a lock.
//
//   slots[0 ..< 32]: Atomic<Unmanaged<SwapDevice>?>    read: one acquiring load
//   held: [SwapDevice]  (under `lock`)                 every device ever attached
//
// A lookup is one atomic load of the type's slot. `attach` stores the device
// with a releasing store under `lock` (attaches are rare and ordered among
// themselves by it). A device that replaces another for the same type does
// not release the old one: the table keeps every device it was given in
// `held` until the table itself goes, so a lookup that loaded the old
// pointer just before the replacement still turns it into a valid reference.

import Synchronization
import ZCacheSupport

/// Swap devices by swap type (`0..<SwapEntry.maxSwapFiles`): lock-free lookups,
/// attaches under a lock. (A `public` class so that `device(type:)` inlines
/// into other modules; see `Lock`.)
public final class SwapDeviceTable: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<Unmanaged<SwapDevice>?>>
    private let lock = Lock()
    /// Every device attached so far, holding the reference the slots point at.
    /// Guarded by `lock`.
    private let held: UnsafeMutablePointer<[SwapDevice]>

    package init() {
        slots = .allocate(capacity: SwapEntry.maxSwapFiles)
        for type in 0..<SwapEntry.maxSwapFiles {
            (slots + type).initialize(to: Atomic(nil))
        }
        held = .allocate(capacity: 1)
        held.initialize(to: [])
    }

    deinit {
        slots.deinitialize(count: SwapEntry.maxSwapFiles)
        slots.deallocate()
        held.deinitialize(count: 1)
        held.deallocate()
    }

    /// Makes `device` the device of its type (replacing any earlier one, which
    /// the table keeps alive, unused, until it goes).
    package func attach(_ device: SwapDevice) {
        precondition((0..<SwapEntry.maxSwapFiles).contains(device.type))
        lock.withLock {
            held.pointee.append(device)
            slots[device.type].store(Unmanaged.passUnretained(device), ordering: .releasing)
        }
    }

    /// The device attached for `type`, or nil (also for a type outside
    /// `0..<SwapEntry.maxSwapFiles`).
    @inlinable @inline(__always)
    package func device(type: Int) -> SwapDevice? {
        guard UInt(bitPattern: type) < UInt(SwapEntry.maxSwapFiles) else { return nil }
        return slots[type].load(ordering: .acquiring)?.takeUnretainedValue()
    }

    /// The attached devices, one per type that has one, by type.
    package var attached: [SwapDevice] {
        (0..<SwapEntry.maxSwapFiles).compactMap { device(type: $0) }
    }
}
