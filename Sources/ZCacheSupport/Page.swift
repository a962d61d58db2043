// Page geometry shared by every module.

/// Bytes in one page and one pageframe, as on x86-64 Linux.
public let pageSize = 4096

/// log2(pageSize).
public let pageShift = 12
