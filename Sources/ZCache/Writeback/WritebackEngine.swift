import SwapDevice
import Synchronization
import ZCacheSupport

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

    /// Waits for all I/O on every device.
    func drain() {
        for device in attached { device.drain() }
    }

    func shutdown() {
        drain()
    }
}
