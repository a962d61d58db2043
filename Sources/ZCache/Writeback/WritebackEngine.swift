import SwapDevice
import Synchronization
import ZCacheSupport

/// The swap devices attached to a cache, one per swap type, and the state of
/// writeback that is not a counter.
final class WritebackEngine: Sendable {
    /// How many times a failed write is resubmitted before the page is left in
    /// the swap cache, dirty, for swap-in to find.
    static let maxWriteRetries = 3

    /// The devices by type: a lookup is one atomic load, no lock (a swap-in
    /// and a frontswap store or load look up their device each time).
    private let devices = SwapDeviceTable()

    func attach(_ device: SwapDevice) {
        devices.attach(device)
    }

    @inline(__always)
    func device(type: Int) -> SwapDevice? {
        devices.device(type: type)
    }

    var attached: [SwapDevice] { devices.attached }

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
