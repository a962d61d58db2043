// The small values of ZSmalloc's interface: the handle, the error, the class
// description and the statistics.

/// An indirect handle to one stored object, like the kernel's zsmalloc handle:
/// it names the object's size class and a slot of that class's handle table,
/// and the slot holds where the object is now, so compaction can move it.
///
/// `rawValue` is `classIndex << 24 | slot`.
public struct ZsHandle: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32

    @inline(__always)
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    @inline(__always)
    init(classIndex: Int, slot: Int) {
        rawValue = UInt32(truncatingIfNeeded: classIndex) << 24 | UInt32(truncatingIfNeeded: slot)
    }

    /// The index of the size class (a merged class's own index).
    @inline(__always)
    var classIndex: Int { Int(rawValue >> 24) }

    /// The slot in the class's handle table.
    @inline(__always)
    var slot: Int { Int(rawValue & ZsHandle.slotMask) }

    static let slotBits = 24
    static let slotMask: UInt32 = 1 << 24 - 1

    public var description: String { "zs handle \(slot) of class \(classIndex)" }
}

/// Why an object could not be stored. Each is a one-line error; nothing is lost.
public enum ZSmallocError: Error, Equatable, Sendable {
    /// An object of no bytes.
    case zeroSize
    /// An object larger than `ZSmalloc.maxObjectSize` (its size).
    case tooLarge(Int)
    /// No frame for a new zspage (the pool is exhausted, or refused), or the
    /// class's handle table is full.
    case noMemory
}

/// One size class of the table (`ZSmalloc.classTable`), after merging.
public struct ZSmallocClassInfo: Sendable, Equatable, CustomStringConvertible {
    /// The class's index: its size is `32 + 16 * index`.
    public let index: Int
    /// The object slot size in bytes (a multiple of 16, 32...4096).
    public let size: Int
    /// Frames chained into one zspage (1...maxFramesPerZspage).
    public let framesPerZspage: Int
    /// Objects one zspage holds: `framesPerZspage * 4096 / size`.
    public let objectsPerZspage: Int
    /// The smallest slot size this class serves: lower classes with the same
    /// frames and objects per zspage were merged into it.
    public let smallestMergedSize: Int

    /// One object per single-frame zspage: the object takes the whole frame
    /// and carries no header (its data may be the full 4096 bytes).
    public var isHuge: Bool { framesPerZspage == 1 && objectsPerZspage == 1 }

    /// Bytes of the zspage no object slot uses.
    public var wastePerZspage: Int { framesPerZspage * 4096 - objectsPerZspage * size }

    public var description: String {
        "class \(index): size \(size) (from \(smallestMergedSize)), \(objectsPerZspage) objects in \(framesPerZspage) frames"
    }
}

/// The counters of one size class, as /sys/kernel/debug/zsmalloc/<pool>/classes shows them.
public struct ZSmallocClassStats: Sendable, Equatable {
    public var index: Int
    public var size: Int
    public var objectsPerZspage: Int
    public var framesPerZspage: Int
    /// `obj_used`: objects stored now.
    public var objectsInUse: Int
    /// `obj_allocated`: object slots in the class's zspages.
    public var objectsAllocated: Int
    /// Zspages per fullness group: [0] empty (always 0: an empty zspage is
    /// freed at once), [1] 0-9 % used ... [10] 90-99 %, [11] full.
    public var zspagesByFullness: [Int]
    /// `pages_used`: frames held by the class's zspages.
    public var frames: Int
    /// `freeable`: frames compaction could give back now.
    public var freeableFrames: Int
    /// Frames given back by compaction since creation.
    public var pagesCompacted: Int
    /// Objects stored since creation.
    public var objectsStoredTotal: Int
}

/// ZSmalloc's counters at one instant (each class read under its own lock).
public struct ZSmallocStats: Sendable, Equatable {
    /// Frames held by zspages.
    public var framesInUse = 0
    /// Objects stored now.
    public var objectsInUse = 0
    /// Objects stored now in huge classes (one per frame, no header).
    public var hugeObjectsInUse = 0
    /// Frames given back by compaction since creation.
    public var pagesCompacted = 0
    /// Stores refused with `.noMemory`.
    public var noMemoryFailures = 0
    /// Frees (and read-and-frees) of handles that name no stored object.
    public var invalidFrees = 0
    /// Bytes of the handle tables and per-frame zspage records in use.
    public var metadataBytes = 0
    /// Classes that hold at least one zspage (after merging), ascending size.
    public var classes: [ZSmallocClassStats] = []
}
