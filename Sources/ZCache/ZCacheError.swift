import SwapDevice
import TMem
import ZCacheSupport

/// Why a ZCache operation failed. Bad input from one caller never damages a page
/// stored by another.
public enum ZCacheError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A page buffer that is not exactly `pageSize` bytes.
    case pageNotOnePage(Int)
    /// A swap type outside 0..<32.
    case invalidSwapType(Int)
    /// A swap offset too large to swizzle into a tmem index (2^40 pages and up).
    case invalidSwapOffset(UInt64)
    /// A frontswap call for a swap type that was never initialised.
    case swapTypeNotInitialised(Int)
    /// A client, pool or filesystem that does not exist (or was destroyed),
    /// or a table that is full.
    case tmem(TMemError)
    /// Stored data did not decompress to one page.
    case decompressionFailed(DecompressionError)
    /// No swap device is attached for this swap type.
    case noSwapDevice(Int)
    /// The swap device has no free slot.
    case swapDeviceFull(Int)
    /// A swap entry that is not in use.
    case swapEntryNotInUse(SwapEntry)
    /// The swap device reported an I/O error.
    case io(SwapIOError)
    /// The page of this swap entry lives in the remote tier and could not be
    /// had from it (unreachable, not found, not a page of this cache).
    case remotePageUnavailable(SwapEntry, String)

    /// A one-line explanation naming the offending value.
    public var description: String {
        switch self {
        case .pageNotOnePage(let size): "page is \(size) bytes, not \(pageSize)"
        case .invalidSwapType(let type): "swap type \(type) is outside 0..<32"
        case .invalidSwapOffset(let offset): "swap offset \(offset) is too large"
        case .swapTypeNotInitialised(let type): "frontswap type \(type) was not initialised"
        case .tmem(let error): "tmem: \(error)"
        case .decompressionFailed(let error): "stored page is damaged: \(error)"
        case .noSwapDevice(let type): "no swap device attached for type \(type)"
        case .swapDeviceFull(let type): "swap device \(type) is full"
        case .swapEntryNotInUse(let entry): "swap entry \(entry) is not in use"
        case .io(let error): "swap I/O: \(error)"
        case .remotePageUnavailable(let entry, let reason):
            "page of swap entry \(entry) is in the remote tier and unavailable: \(reason)"
        }
    }
}

extension ZCache {
    /// Counts a caller's bad input (`bad_input_errors`) and returns `error` to throw.
    @inline(__always)
    func badInput(_ error: ZCacheError) -> ZCacheError {
        counters.badInputErrors.increment()
        return error
    }

    /// Runs a TMem call whose errors (an unknown client or pool, a full table)
    /// are the caller's bad input: counted, and rethrown as `.tmem`.
    @inline(__always)
    func tmemCall<T>(_ body: () throws(TMemError) -> T) throws(ZCacheError) -> T {
        do { return try body() } catch { throw badInput(.tmem(error)) }
    }
}
