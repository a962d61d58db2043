import SwapDevice
import Synchronization
import ZCacheSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The swap devices attached to a cache, one per swap type, and the state of
/// writeback that is not a counter.
final class WritebackEngine: Sendable {
    /// How many times a failed write is resubmitted before the page is left in
    /// the swap cache, dirty, for swap-in to find.
    static let maxWriteRetries = 3

    private let devices = LockedValue<[SwapDevice?]>(
        Array(repeating: nil, count: SwapEntry.maxSwapFiles))

    /// Bit t set: a device is attached for type t (read without the lock on
    /// the store path).
    private let attachedTypes = Atomic<UInt32>(0)

    func attach(_ device: SwapDevice) {
        devices.withLock { $0[device.type] = device }
        attachedTypes.bitwiseOr(1 << UInt32(device.type), ordering: .releasing)
    }

    func device(type: Int) -> SwapDevice? {
        guard (0..<SwapEntry.maxSwapFiles).contains(type),
            attachedTypes.load(ordering: .acquiring) & (1 << UInt32(type)) != 0
        else { return nil }
        return devices.withLock { $0[type] }
    }

    var attached: [SwapDevice] { devices.withLock { $0.compactMap { $0 } } }

    /// Writes under way, counted from their first submission until their
    /// `finished` ran (written, or given up after retries). A device's own
    /// drain cannot see a resubmission scheduled but not yet submitted; this can.
    let activeWrites = Atomic<Int>(0)

    /// Waits until every write submitted through `submitToDevice` finished,
    /// retries included, and every device is idle.
    func drain() {
        while true {
            for device in attached { device.drain() }
            guard activeWrites.load(ordering: .acquiring) > 0 else { return }
            usleep(100)
        }
    }

    func shutdown() {
        drain()
    }
}
