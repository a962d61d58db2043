// Writing a swap-cache page to its slot, the way the kernel's swap_writepage and
// end_swap_bio_write do, with reclaim on completion.

extension SwapDevice {
    /// Writes a swap-cache page to its slot and, when done, lets it leave the cache.
    ///
    /// The page should be in `swapCache`, up to date, and the caller must hold a
    /// reference to it. This marks it `writeback` (and `reclaim` when `reclaim` is
    /// true), clears `dirty`, takes a reference for the I/O and submits the write.
    /// When the write completes, on an I/O worker:
    ///
    /// - success: `writeback` is cleared and the I/O's reference released; if that
    ///   was the last reference and the page is marked `reclaim`, the page leaves
    ///   the swap cache and the slot's has-cache bit is cleared (`swapcacheFree`).
    ///   If someone still holds it (a swap-in `find`, or the caller who has not yet
    ///   released), the page stays, and the last `release` drops it.
    /// - failure: the page stays in the cache marked `dirty`, not `writeback`, not
    ///   `reclaim`, so its data is not lost; the error goes to the completion.
    ///
    /// `completion` runs after that bookkeeping, on the I/O worker.
    public func submitWriteback(
        _ page: SwapCachePage, reclaim: Bool = true,
        completion: @escaping @Sendable (Result<Void, SwapIOError>) -> Void
    ) {
        submitWritebacks([WritebackRequest(page: page, reclaim: reclaim, completion: completion)])
    }

    /// One page to write back, for `submitWritebacks`.
    public struct WritebackRequest: Sendable {
        public var page: SwapCachePage
        public var reclaim: Bool
        public var completion: @Sendable (Result<Void, SwapIOError>) -> Void

        public init(
            page: SwapCachePage, reclaim: Bool = true,
            completion: @escaping @Sendable (Result<Void, SwapIOError>) -> Void
        ) {
            self.page = page
            self.reclaim = reclaim
            self.completion = completion
        }
    }

    /// `submitWriteback` for several pages at once: one queue lock and one
    /// worker wake for all of them (a plugged batch, as the kernel's blk_plug).
    public func submitWritebacks(_ requests: [WritebackRequest]) {
        for request in requests {
            let page = request.page
            page.clearFlags(.dirty)
            page.setFlags(request.reclaim ? [.writeback, .reclaim] : [.writeback])
            page.retain()
        }
        // The I/O worker settles each page (`settleWriteback`) before its
        // completion: no wrapping closure, and no array besides the caller's.
        submitRequests(
            requests.lazy.map { [self] request in
                .init(
                    direction: .write, buffer: request.page.buffer,
                    byteOffset: byteOffset(of: request.page.entry),
                    writebackPage: request.page, completion: request.completion)
            })
    }

    /// The end of a page's write, on the I/O worker, before the submitter's
    /// completion: as `submitWriteback` describes, `writeback` cleared (and on
    /// failure `dirty` set, `reclaim` cleared), then the I/O's reference released.
    static func settleWriteback(_ page: SwapCachePage, _ result: Result<Void, SwapIOError>) {
        switch result {
        case .success:
            page.clearFlags(.writeback)
        case .failure:
            page.setFlags(.dirty)
            page.clearFlags([.writeback, .reclaim])
        }
        page.release()
    }
}
