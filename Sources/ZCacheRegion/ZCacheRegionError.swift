import ZCache

/// Why a region could not be created. Each case says what to change.
public enum ZCacheRegionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not Linux: there is no userfaultfd.
    case unsupported
    /// The `userfaultfd` system call failed (`EPERM`: not root and
    /// `vm.unprivileged_userfaultfd` is 0; `ENOSYS`: a kernel without it).
    case userfaultfdUnavailable(errno: Int32)
    /// The kernel's userfaultfd lacks a feature or ioctl the region relies on.
    case featureMissing(String)
    /// A region needs at least one page, and a resident limit of at least
    /// `ZCacheRegion.minimumResidentLimit` pages and at most the region's size.
    case invalidSize(pages: Int, residentLimit: Int)
    /// The cache has no swap device attached for the region's swap type.
    case noSwapDevice(type: Int)
    /// The swap device has fewer free slots than the region has pages.
    case swapDeviceTooSmall(slots: Int, pages: Int)
    /// A system call needed to set the region up failed.
    case systemCall(String, errno: Int32)

    public var description: String {
        switch self {
        case .unsupported:
            "userfaultfd regions need Linux"
        case .userfaultfdUnavailable(let code):
            switch code {
            case 1, 13:  // EPERM, EACCES
                "userfaultfd refused (errno \(code)): run as root, or set the sysctl "
                    + "vm.unprivileged_userfaultfd=1"
            case 38:  // ENOSYS
                "userfaultfd is not in this kernel (errno 38, ENOSYS)"
            default:
                "userfaultfd failed (errno \(code))"
            }
        case .featureMissing(let what):
            "userfaultfd lacks \(what) (needs Linux 5.7 or later for anonymous write-protect)"
        case .invalidSize(let pages, let limit):
            "a region of \(pages) pages cannot keep \(limit) resident (limit must be in "
                + "\(ZCacheRegionLimits.minimumResidentLimit)...pages)"
        case .noSwapDevice(let type):
            "no swap device attached to the cache for swap type \(type)"
        case .swapDeviceTooSmall(let slots, let pages):
            "swap device has \(slots) free slots, the region needs \(pages)"
        case .systemCall(let call, let code):
            "\(call) failed (errno \(code))"
        }
    }
}

/// Limits a region's configuration must respect.
public enum ZCacheRegionLimits {
    /// One x86-64 instruction may touch a handful of pages (a string move
    /// with both operands crossing a page boundary touches four); below this
    /// many resident pages it could fault them in and out forever.
    public static let minimumResidentLimit = 8
}
