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

    /// Bit t set: a device is attached for type t. Checked before the lock, so
    /// that looking up a type without a device (a frontswap store or load with
    /// no swap attached) takes no lock.
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
    /// `finished` ran (written, or given up after retries).
    let activeWrites = Atomic<Int>(0)

    /// Woken when a write finishes or outstanding-writeback slots are given
    /// back: `drain` and `ZCache.waitForWritebackRoom` sleep here.
    let progress = WaitQueue()

    /// A write counted in `activeWrites` finished.
    func writeFinished() {
        activeWrites.subtract(1, ordering: .releasing)
        progress.wake()
    }

    /// Waits until every write submitted through `ZCache.submitToDevice` or
    /// writeback finished, retries included, and every device is idle.
    func drain() {
        progress.wait(while: { activeWrites.load(ordering: .acquiring) > 0 })
        for device in attached { device.drain() }
    }

    func shutdown() {
        drain()
    }
}
