// What zbud's own structures cost, for `metadata_bytes_per_page`.

extension ZBud {
    /// Bytes of zbud's structures outside the frames: the frame table, the
    /// busy bits and the two sets of list links, all reserved for every frame
    /// of the pool up front (zbud keeps nothing per bud).
    public var metadataBytes: Int {
        let frameSlots = max(1, frameCount)
        let listLinks = 2 * MemoryLayout<UInt32>.stride
        return frameSlots * (MemoryLayout<FrameState>.stride + 1)
            + (frameCount + budLists.listCount) * listLinks
            + (frameCount + lruLists.listCount) * listLinks
    }
}
