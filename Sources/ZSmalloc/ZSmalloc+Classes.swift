// The size-class table, as zs_create_pool builds it.
//
// Slot sizes run from 32 bytes in steps of 16 up to 4096 (255 classes). For
// each size the zspage length is the one of 1...maxFramesPerZspage frames
// that leaves the fewest bytes unused at its end (the kernel's
// calculate_zspage_chain_size; the shortest on a tie, and 1 for a power of
// two). Walking from the largest size down, a class whose frames-per-zspage
// and objects-per-zspage equal those of the class just above is merged into
// it: the larger slot costs nothing more, since both fit the same number of
// objects in the same frames. A class of one object in one frame is huge.

import ZCacheSupport

extension ZSmalloc {
    /// The smallest slot (ZS_MIN_ALLOC_SIZE).
    public static let minSlotSize = 32
    /// The step between slot sizes (ZS_SIZE_CLASS_DELTA).
    public static let slotSizeStep = 16
    /// Slot sizes 32, 48, ..., 4096.
    public static let classCount = (pageSize - minSlotSize) / slotSizeStep + 1

    /// The zspage length, in frames, that wastes least for `size`.
    static func framesPerZspage(slotSize size: Int, maxFrames: Int) -> Int {
        if size & (size - 1) == 0 { return 1 }
        var best = 1
        var leastWaste = Int.max
        for frames in 1...maxFrames {
            let waste = frames * pageSize % size
            if waste < leastWaste {
                leastWaste = waste
                best = frames
            }
        }
        return best
    }

    /// The index of the smallest slot size that holds `bytes` (before merging).
    @inline(__always)
    static func slotIndex(forBytes bytes: Int) -> Int {
        guard bytes > minSlotSize else { return 0 }
        return min(classCount - 1, (bytes - minSlotSize + slotSizeStep - 1) / slotSizeStep)
    }

    /// The merged class table for zspages of at most `maxFramesPerZspage`
    /// frames, ascending by size, and for each slot index the index of the
    /// class that serves it.
    static func buildClassTable(maxFramesPerZspage: Int) -> (
        classes: [ZSmallocClassInfo], servingClass: [Int]
    ) {
        var servingClass = [Int](repeating: 0, count: classCount)
        var descending: [ZSmallocClassInfo] = []
        var previous: (index: Int, frames: Int, objects: Int)? = nil
        for index in stride(from: classCount - 1, through: 0, by: -1) {
            let size = min(pageSize, minSlotSize + index * slotSizeStep)
            let frames = framesPerZspage(slotSize: size, maxFrames: maxFramesPerZspage)
            let objects = frames * pageSize / size
            if let previous, previous.frames == frames, previous.objects == objects {
                servingClass[index] = previous.index
                let merged = descending.removeLast()
                descending.append(
                    ZSmallocClassInfo(
                        index: merged.index, size: merged.size,
                        framesPerZspage: merged.framesPerZspage,
                        objectsPerZspage: merged.objectsPerZspage, smallestMergedSize: size))
                continue
            }
            servingClass[index] = index
            descending.append(
                ZSmallocClassInfo(
                    index: index, size: size, framesPerZspage: frames, objectsPerZspage: objects,
                    smallestMergedSize: size))
            previous = (index, frames, objects)
        }
        return (descending.reversed(), servingClass)
    }

    /// The classes (after merging) for zspages of at most `maxFramesPerZspage`
    /// frames, ascending by size.
    public static func classTable(maxFramesPerZspage: Int) -> [ZSmallocClassInfo] {
        precondition((1...16).contains(maxFramesPerZspage), "1...16 frames per zspage")
        return buildClassTable(maxFramesPerZspage: maxFramesPerZspage).classes
    }
}
