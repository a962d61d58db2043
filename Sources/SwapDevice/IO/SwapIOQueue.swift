// The bounded request queue and its I/O worker threads.
//
//   writes --(block while full)--> ring[queueDepth] --(batches)--> workers 1...n
//   reads  --(block while full)--> reads[<= queueDepth] --(first)-->    |
//                                           pread/pwrite (no lock held), counters,
//                                           completion, then inFlight -= batch
//
// Reads go first: someone usually waits for a read, while nobody waits for
// writeback's writes, so a read does not queue behind up to a ring of writes
// (2 to 3 ms here, against about 0.1 ms alone; the kernel's block layer
// favours synchronous reads the same way). A swap-in does not come here at
// all: it reads on its own thread (`readOnCaller`). A worker takes queued
// reads before its next batch (but not twice in a row while writes wait, so
// reads cannot starve writeback), and between two writes of a batch when
// reads are waiting (`readsWaiting`), so a read waits for at most one write
// per worker. Reads and writes are not ordered with each other (with two workers
// they never were): a read of a slot whose write is still queued may see the
// old contents. The swap cache never asks for that: a page stays in it until
// its write has completed, and only then is its slot read from the device.
//
// A request submitted by an I/O worker itself (a completion resubmitting a
// failed write) never waits for a full ring, since only workers free ring
// slots: it goes to `overflow`, which workers empty first. That list holds at
// most one request per request in flight, so it stays bounded.
//
// A writeback request names its swap-cache page, and the worker settles the
// page's flags and I/O reference itself before the completion runs: no
// closure per page wraps the caller's completion for that.
//
// All fields below `monitor` are guarded by it. A worker takes up to a fair share
// of the queued requests at once (at most `maxBatch`), so a fast submitter wakes
// it once per batch rather than once per page, and a submission wakes one idle
// worker per `requestsPerWake` requests queued; a submitter blocked on a full
// queue is woken once the queue is half empty. `inFlight` counts requests from
// submission until their completion has returned, so `drain` waits for the
// completions too. Closing lets the workers finish everything queued, then they
// exit; requests submitted after that get `.closed` on a short-lived thread.
//
// The queue owns the file descriptor from `start` on: the last worker to exit
// closes it (after any `fsync` or caller's read in progress), so a `close`
// that runs on a worker thread (a completion dropping the last reference to
// the device) need not wait for itself.

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
        /// For the writeback of a swap-cache page (`buffer` is its buffer): the
        /// page, whose flags and I/O reference the worker settles
        /// (`SwapDevice.settleWriteback`) before `completion` runs.
        let writebackPage: SwapCachePage?
        let completion: Completion

        init(
            direction: SwapSyscalls.Direction, buffer: PageBuffer, byteOffset: Int64?,
            writebackPage: SwapCachePage? = nil, completion: @escaping Completion
        ) {
            self.direction = direction
            self.buffer = buffer
            self.byteOffset = byteOffset
            self.writebackPage = writebackPage
            self.completion = completion
        }
    }

    static let maxBatch = 64
    /// Requests queued per idle worker woken by a submission.
    static let requestsPerWake = 32

    let fd: Int32
    let syscalls: SwapSyscalls
    let workerCount: Int

    private let monitor = IOMonitor()
    private var ring: [Request?]
    /// Reads waiting, oldest first; at most `ring.count` but for a worker's own.
    private var reads: [Request] = []
    /// `reads.count`, for a worker between two writes to look at without the monitor.
    private let readsWaiting = Atomic<Int>(0)
    private var overflow: [Request] = []
    private var head = 0
    private var queued = 0
    private var closing = false
    private var liveWorkers = 0
    private var idleWorkers = 0
    private var blockedSubmitters = 0
    private var drainers = 0
    private var workerThreads: [pthread_t] = []
    /// Callers in a system call on the file outside the workers (`fsync`,
    /// `readOnCaller`): the last worker closes the file only after them.
    private var callersInSyscall = 0
    private var fileClosed = false
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
            let thread = Thread { [self] in workerLoop() }
            thread.name = "\(name)-io\(index)"
            thread.start()
        }
    }

    /// Queues `request`, waiting while the queue is full unless called on an I/O
    /// worker. After close, the request's completion gets `.closed` on another
    /// thread.
    func submit(_ request: Request) {
        submit(CollectionOfOne(request))
    }

    /// Queues `requests` in order under one lock, waking workers once for them
    /// all (or once per ring-full when they do not fit); otherwise as `submit`.
    func submit(_ requests: some Collection<Request>) {
        var rejected: [Completion] = []
        monitor.lock()
        for request in requests {
            if request.direction == .read {
                if queueRead(request) { continue }
                rejected.append(request.completion)
                continue
            }
            if queued == ring.count && !closing && callerIsWorker() {
                overflow.append(request)
                accepted()
                continue
            }
            while queued == ring.count && !closing {
                if idleWorkers > 0 { monitor.broadcast(.notEmpty) }
                blockedSubmitters += 1
                monitor.wait(.notFull)
                blockedSubmitters -= 1
            }
            if closing {
                rejected.append(request.completion)
                continue
            }
            ring[(head + queued) % ring.count] = request
            queued += 1
            accepted()
        }
        // One wake per `requestsPerWake` requests waiting, not one per request,
        // nor every idle worker for a few requests that one worker writes as
        // soon (a plug of writeback pages wakes one worker, not all).
        let waiting = queued + overflow.count + reads.count
        if idleWorkers > 0 && waiting > 0 {
            let wanted = (waiting + Self.requestsPerWake - 1) / Self.requestsPerWake
            if wanted >= idleWorkers {
                monitor.broadcast(.notEmpty)
            } else {
                for _ in 0..<wanted { monitor.signal(.notEmpty) }
            }
        }
        monitor.unlock()
        if !rejected.isEmpty {
            let closed = rejected
            Thread { for completion in closed { completion(.failure(.closed)) } }.start()
        }
    }

    /// Queues a read, waiting while `ring.count` reads wait unless called on a
    /// worker; false once the queue is closing. Monitor held.
    private func queueRead(_ request: Request) -> Bool {
        while reads.count >= ring.count && !closing && !callerIsWorker() {
            if idleWorkers > 0 { monitor.broadcast(.notEmpty) }
            blockedSubmitters += 1
            monitor.wait(.notFull)
            blockedSubmitters -= 1
        }
        if closing { return false }
        reads.append(request)
        readsWaiting.store(reads.count, ordering: .relaxed)
        accepted()
        return true
    }

    /// Moves up to `maxBatch` waiting reads into `batch`. Monitor held.
    private func takeReads(into batch: inout [Request]) {
        let take = min(reads.count, Self.maxBatch)
        batch.append(contentsOf: reads.prefix(take))
        reads.removeFirst(take)
        readsWaiting.store(reads.count, ordering: .relaxed)
        if blockedSubmitters > 0 { monitor.broadcast(.notFull) }
    }

    /// Counts a request just queued. Monitor held.
    private func accepted() {
        inFlight += 1
        inFlightPeak = max(inFlightPeak, inFlight)
    }

    /// Whether the calling thread is one of the workers. Monitor held.
    private func callerIsWorker() -> Bool {
        let me = pthread_self()
        return workerThreads.contains { pthread_equal($0, me) != 0 }
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
    /// for them to exit and the file to be closed. Idempotent; concurrent callers
    /// all wait. Called on an I/O worker, it returns at once, and the last worker
    /// out closes the file.
    func close() {
        monitor.lock()
        closing = true
        monitor.broadcast(.notEmpty)
        monitor.broadcast(.notFull)
        let me = pthread_self()
        let onWorker = workerThreads.contains { pthread_equal($0, me) != 0 }
        while !onWorker && !fileClosed { monitor.wait(.workerExited) }
        monitor.unlock()
    }

    /// Whether the calling thread is one of this queue's I/O workers.
    var isWorkerThread: Bool {
        monitor.lock()
        defer { monitor.unlock() }
        return callerIsWorker()
    }

    /// `fsync` of the file, or `.closed` once closing has begun.
    func fsync() -> Result<Void, SwapIOError> {
        withFileOpen {
            let result = syscalls.fsync(fd)
            return result == 0
                ? .success(()) : .failure(.io(errno: Int32(truncatingIfNeeded: -result)))
        }
    }

    /// Reads one page at `byteOffset` (nil: `EINVAL`) on the calling thread,
    /// with no queue and no worker: a swap-in waits for its read anyway, and
    /// handing it to a worker cost two thread wake-ups and, behind writes,
    /// their queue. Counted as the workers' reads are; `.closed` once closing
    /// has begun.
    func readOnCaller(into buffer: UnsafeMutableRawBufferPointer, byteOffset: Int64?) -> Result<
        Void, SwapIOError
    > {
        withFileOpen {
            let result: Result<Void, SwapIOError> =
                if let byteOffset {
                    syscalls.transferPage(.read, fd: fd, buffer: buffer, offset: byteOffset)
                } else {
                    .failure(.io(errno: EINVAL))
                }
            switch result {
            case .success: pagesRead.add(1, ordering: .relaxed)
            case .failure: readErrors.add(1, ordering: .relaxed)
            }
            return result
        }
    }

    /// Runs `body` with the file kept open (the last worker waits for it
    /// before closing), or returns `.closed` once closing has begun.
    private func withFileOpen(_ body: () -> Result<Void, SwapIOError>) -> Result<
        Void, SwapIOError
    > {
        monitor.lock()
        guard !closing else {
            monitor.unlock()
            return .failure(.closed)
        }
        callersInSyscall += 1
        monitor.unlock()
        let result = body()
        monitor.lock()
        callersInSyscall -= 1
        monitor.broadcast(.workerExited)
        monitor.unlock()
        return result
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
        var readsBetween: [Request] = []
        readsBetween.reserveCapacity(Self.maxBatch)
        // Whether this worker's last batch was reads: then writes come next if
        // any wait, so a stream of reads cannot hold writeback back for good.
        var readsLast = false
        monitor.lock()
        workerThreads.append(pthread_self())
        while true {
            while queued == 0 && overflow.isEmpty && reads.isEmpty && !closing {
                idleWorkers += 1
                monitor.wait(.notEmpty)
                idleWorkers -= 1
            }
            if queued == 0 && overflow.isEmpty && reads.isEmpty {  // closing, nothing left
                liveWorkers -= 1
                if liveWorkers == 0 {
                    while callersInSyscall > 0 { monitor.wait(.workerExited) }
                    monitor.unlock()
                    _ = closeFileDescriptor(fd)
                    monitor.lock()
                    fileClosed = true
                }
                monitor.broadcast(.workerExited)
                monitor.unlock()
                return
            }
            if !overflow.isEmpty {
                // Resubmissions first: they are the oldest work.
                let take = min(overflow.count, Self.maxBatch)
                batch.append(contentsOf: overflow.prefix(take))
                overflow.removeFirst(take)
                readsLast = false
            } else if !reads.isEmpty && (queued == 0 || !readsLast) {
                takeReads(into: &batch)
                readsLast = true
            } else {
                readsLast = false
                let take = min(queued, Self.maxBatch, max(1, queued / workerCount))
                for _ in 0..<take {
                    // Moved out, not copied: no retain and release of its references.
                    if let request = ring[head].take() { batch.append(request) }
                    head = (head + 1) % ring.count
                }
                queued -= take
            }
            // Blocked submitters wake when the queue is half empty, so that they
            // refill it in one burst instead of one slot per batch.
            if blockedSubmitters > 0 && queued <= ring.count / 2 { monitor.broadcast(.notFull) }
            monitor.unlock()

            for request in batch {
                // A read that came meanwhile goes before the next write.
                if request.direction == .write && readsWaiting.load(ordering: .relaxed) > 0 {
                    performWaitingReads(&readsBetween)
                }
                perform(request)
            }
            let done = batch.count
            batch.removeAll(keepingCapacity: true)

            monitor.lock()
            inFlight -= done
            if inFlight == 0 && drainers > 0 { monitor.broadcast(.drained) }
        }
    }

    /// Takes the waiting reads and performs them, between two writes of a batch.
    private func performWaitingReads(_ reads: inout [Request]) {
        monitor.lock()
        takeReads(into: &reads)
        monitor.unlock()
        guard !reads.isEmpty else { return }
        for request in reads { perform(request) }
        let done = reads.count
        reads.removeAll(keepingCapacity: true)
        monitor.lock()
        inFlight -= done
        if inFlight == 0 && drainers > 0 { monitor.broadcast(.drained) }
        monitor.unlock()
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
        if let page = request.writebackPage { SwapDevice.settleWriteback(page, result) }
        request.completion(result)
    }
}
