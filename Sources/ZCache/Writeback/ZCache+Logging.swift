// The writeback events a user must know about, as log messages. Each is one
// call at its site in ZCache+Writeback.swift, so the messages and their levels
// are kept together here. Nothing is logged without a logger.

import Logging
import SwapDevice

extension ZCache {
    func logCapReachedFirstTime() {
        logger?.notice(
            "zcache: outstanding writeback reached its cap; writeback waits for completions from now on",
            metadata: ["cap": "\(configuration.maxOutstandingWritebackPages)"])
    }

    func logWriteError(
        _ result: Result<Void, SwapIOError>, _ entry: SwapEntry, _ device: SwapDevice, attempt: Int
    ) {
        guard let logger, case .failure(let error) = result else { return }
        logger.warning(
            "zcache: writeback write failed; the page stays in the swap cache",
            metadata: [
                "swap_file": "\(device.path)", "offset": "\(entry.offset)",
                "attempt": "\(attempt + 1)", "error": "\(error)",
            ])
    }

    func logRetriesGivenUp(_ entry: SwapEntry, _ device: SwapDevice) {
        logger?.error(
            "zcache: writeback gave up after \(WritebackEngine.maxWriteRetries) retries; the page stays dirty in the swap cache",
            metadata: ["swap_file": "\(device.path)", "offset": "\(entry.offset)"])
    }
}
