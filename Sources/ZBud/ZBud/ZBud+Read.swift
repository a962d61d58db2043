// Reading a bud: its compressed bytes and its owner.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension ZBud {
    /// Copies the compressed bytes of `ref` into `buffer` under the class lock.
    ///
    /// Cheap and non-blocking, so it may be called under a TMem bucket lock;
    /// decompress the copy outside every lock.
    /// - Returns: the number of bytes copied, or nil when the frame is dying
    ///   (being evicted) or, when misuse is not trapping, `ref` is not a bud.
    /// - Precondition: `buffer` holds at least `maxZPageSize` bytes.
    @inline(__always)
    public func copyOut(_ ref: ZBudRef, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        copyOut(ref, into: buffer, thenFree: false).size
    }

    /// `copyOut` then `free`, under one acquisition of the class lock: the
    /// read-and-free of an exclusive get. In a dying frame nothing is copied
    /// (size nil) and, as with `free`, nothing is released (frame nil).
    @inline(__always)
    public func copyOutAndFree(_ ref: ZBudRef, into buffer: UnsafeMutableRawBufferPointer)
        -> (size: Int?, emptiedFrame: PageFrameNumber?)
    {
        copyOut(ref, into: buffer, thenFree: true)
    }

    @inline(__always)
    private func copyOut(_ ref: ZBudRef, into buffer: UnsafeMutableRawBufferPointer, thenFree: Bool)
        -> (size: Int?, emptiedFrame: PageFrameNumber?)
    {
        precondition(buffer.count >= Self.maxZPageSize, "copyOut needs a maxZPageSize buffer")
        let index = Int(ref.frame.rawValue)
        lock.lock()
        guard index < frameCount, frames[index].size(ref.bud) != 0 else {
            reportMisuse("ZBud: copyOut of \(ref), which holds no bud")
            return (nil, nil)
        }
        let frame = frames[index]
        var size: Int? = nil
        if !frame.flags.contains(.dying), let address = frame.address {
            let storedSize = frame.size(ref.bud)
            let dataSize = storedSize - Self.ownerSize
            if dataSize > 0, let destination = buffer.baseAddress {
                memcpy(
                    destination,
                    address + Self.offset(bud: ref.bud, storedSize: storedSize) + Self.ownerSize,
                    dataSize)
            }
            size = dataSize
        }
        let emptied = thenFree ? freeHoldingLock(ref) : nil
        lock.unlock()
        return (size, emptied)
    }

    /// The owner handle stored in front of `ref` (readable in dying frames too).
    ///
    /// When misuse is not trapping, a `ref` that holds no bud reads as all zeros.
    public func owner(of ref: ZBudRef) -> BudOwner {
        let index = Int(ref.frame.rawValue)
        lock.lock()
        guard index < frameCount, frames[index].size(ref.bud) != 0,
            let address = frames[index].address
        else {
            reportMisuse("ZBud: owner of \(ref), which holds no bud")
            return BudOwner(w0: 0, w1: 0, w2: 0, w3: 0)
        }
        let owner = Self.readOwner(
            frame: address, bud: ref.bud, storedSize: frames[index].size(ref.bud))
        lock.unlock()
        return owner
    }

    /// The data size of `ref`, or nil when it holds no bud. For tests and tools.
    package func dataSize(of ref: ZBudRef) -> Int? {
        let index = Int(ref.frame.rawValue)
        return lock.withLock {
            guard index < frameCount, frames[index].size(ref.bud) != 0 else { return nil }
            return frames[index].size(ref.bud) - Self.ownerSize
        }
    }
}
