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

    /// Retry chains under way: raised when a failed write is scheduled for
    /// resubmission (inside its completion, before the device counts that
    /// request done) and lowered when the resubmitted write completes (after
    /// any further resubmission was scheduled). So while a page is between
    /// attempts, this is above zero or its device still has a request in flight.
    let pendingRetries = Atomic<Int>(0)

    /// Waits for all I/O on every device, including resubmissions of failed
    /// writes (which a device's own drain cannot see: they are submitted
    /// after the failed request's completion returned).
    func drain() {
        while true {
            for device in attached { device.drain() }
            guard pendingRetries.load(ordering: .acquiring) > 0 else { return }
            usleep(100)
        }
    }

    func shutdown() {
        drain()
    }
}
