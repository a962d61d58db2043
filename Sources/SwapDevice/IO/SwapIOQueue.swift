// The bounded request queue and its I/O worker threads.
//
//   submitters --(block while full)--> ring[queueDepth] --(batches)--> workers 1...n
//                                                                        |
//                                           pread/pwrite (no lock held), counters,
//                                           completion, then inFlight -= batch
//
// All fields below `monitor` are guarded by it. A worker takes up to a fair share
// of the queued requests at once (at most `maxBatch`), so a fast submitter wakes
// it once per batch rather than once per page. `inFlight` counts requests from
// submission until their completion has returned, so `drain` waits for the
// completions too. Closing lets the workers finish everything queued, then they
// exit; requests submitted after that get `.closed` on a short-lived thread.

import Foundation
import Synchronization
import ZCacheSupport

final class SwapIOQueue: @unchecked Sendable {
    typealias Completion = @Sendable (Result<Void, SwapIOError>) -> Void

    struct Request {
        let direction: SwapSyscalls.Direction
        let buffer: PageBuffer
        /// Byte offset in the file, or `nil` for an entry that is not a slot here.
        let byteOffset: Int64?
        let completion: Completion
    }

    static let maxBatch = 64

    let fd: Int32
    let syscalls: SwapSyscalls
    let workerCount: Int

    private let monitor = IOMonitor()
    private var ring: [Request?]
    private var head = 0
    private var queued = 0
    private var closing = false
    private var liveWorkers = 0
    private var idleWorkers = 0
    private var blockedSubmitters = 0
    private var drainers = 0
    private var inFlight = 0
    private var inFlightPeak = 0

    private let pagesWritten = Atomic<Int>(0)
    private let pagesRead = Atomic<Int>(0)
    private let writeErrors = Atomic<Int>(0)
    private let readErrors = Atomic<Int>(0)

    init(fd: Int32, syscalls: SwapSyscalls, workers: Int, queueDepth: Int) {
        self.fd = fd
        self.syscalls = syscalls
        self.workerCount = max(1, workers)
        self.ring = Array(repeating: nil, count: max(1, queueDepth))
    }

    /// Starts the worker threads; call once, before the first submit.
    func start(name: String) {
        monitor.lock()
        liveWorkers = workerCount
        monitor.unlock()
        for index in 0..<workerCount {
            let threadName = "\(name)-io\(index)"
            Thread { [self] in
                Thread.current.name = threadName
                workerLoop()
            }.start()
        }
    }

    /// Queues `request`, waiting while the queue is full. After close, the request's
    /// completion gets `.closed` on another thread.
    func submit(_ request: Request) {
        monitor.lock()
        while queued == ring.count && !closing {
            blockedSubmitters += 1
            monitor.wait(.notFull)
            blockedSubmitters -= 1
        }
        if closing {
            monitor.unlock()
            let completion = request.completion
            Thread { completion(.failure(.closed)) }.start()
            return
        }
        ring[(head + queued) % ring.count] = request
        queued += 1
        inFlight += 1
        inFlightPeak = max(inFlightPeak, inFlight)
        if idleWorkers > 0 { monitor.signal(.notEmpty) }
        monitor.unlock()
    }

    /// Waits until every accepted request's completion has returned.
    func drain() {
        monitor.lock()
        while inFlight > 0 {
            drainers += 1
            monitor.wait(.drained)
            drainers -= 1
        }
        monitor.unlock()
    }

    /// Stops accepting requests, lets the workers finish what is queued, and waits
    /// for them to exit. Idempotent; concurrent callers all wait.
    func close() {
        monitor.lock()
        closing = true
        monitor.broadcast(.notEmpty)
        monitor.broadcast(.notFull)
        while liveWorkers > 0 { monitor.wait(.workerExited) }
        monitor.unlock()
    }

    var stats: SwapDeviceStats {
        monitor.lock()
        let (now, peak) = (inFlight, inFlightPeak)
        monitor.unlock()
        return SwapDeviceStats(
            pagesWritten: pagesWritten.load(ordering: .relaxed),
            pagesRead: pagesRead.load(ordering: .relaxed),
            writeErrors: writeErrors.load(ordering: .relaxed),
            readErrors: readErrors.load(ordering: .relaxed),
            inFlight: now, inFlightPeak: peak)
    }

    private func workerLoop() {
        var batch: [Request] = []
        batch.reserveCapacity(Self.maxBatch)
        monitor.lock()
        while true {
            while queued == 0 && !closing {
                idleWorkers += 1
                monitor.wait(.notEmpty)
                idleWorkers -= 1
            }
            if queued == 0 {  // closing, and nothing left to do
                liveWorkers -= 1
                monitor.broadcast(.workerExited)
                monitor.unlock()
                return
            }
            let take = min(queued, Self.maxBatch, max(1, queued / workerCount))
            for _ in 0..<take {
                if let request = ring[head] { batch.append(request) }
                ring[head] = nil
                head = (head + 1) % ring.count
            }
            queued -= take
            if blockedSubmitters > 0 { monitor.broadcast(.notFull) }
            monitor.unlock()

            for request in batch { perform(request) }
            let done = batch.count
            batch.removeAll(keepingCapacity: true)

            monitor.lock()
            inFlight -= done
            if inFlight == 0 && drainers > 0 { monitor.broadcast(.drained) }
        }
    }

    private func perform(_ request: Request) {
        let result: Result<Void, SwapIOError>
        if let offset = request.byteOffset {
            result = syscalls.transferPage(
                request.direction, fd: fd, buffer: request.buffer.bytes, offset: offset)
        } else {
            result = .failure(.io(errno: EINVAL))
        }
        switch (request.direction, result) {
        case (.write, .success): pagesWritten.add(1, ordering: .relaxed)
        case (.write, .failure): writeErrors.add(1, ordering: .relaxed)
        case (.read, .success): pagesRead.add(1, ordering: .relaxed)
        case (.read, .failure): readErrors.add(1, ordering: .relaxed)
        }
        request.completion(result)
    }
}
