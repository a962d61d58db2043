// The frame pool and frame numbers moved to their own module (PageFrames),
// shared by every allocator; `import ZBud` keeps bringing them along.
@_exported import PageFrames
