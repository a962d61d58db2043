/// The zbud counters of one class, named as the kernel's debugfs
/// `zbud/{eph,pers}_*` files.
public struct ZBudStats: Sendable, Codable, Equatable {
    /// Stored bytes (owner handle included) of the live buds.
    public var zbytes = 0
    /// Stored bytes of every bud ever created.
    public var cumulZbytes = 0
    /// Buds ever created.
    public var cumulZpages = 0
    /// Frames returned by eviction (ephemeral) or by the last free of a zombie (persistent).
    public var evictedPageframes = 0
    /// Live buds.
    public var zpages = 0
    /// Frames taken from the caller and not yet handed back (dying frames included).
    public var pageframes = 0
    /// Frames holding two buds (zombies included).
    public var buddiedCount = 0
    /// Frames holding one bud (zombies included).
    public var unbuddiedCount = 0
    /// Zombie frames (persistent frames being written back).
    public var zombieCount = 0
    /// Frees, reads and finishes of buds that were not there (counted when not trapping).
    public var invalidOperations = 0

    public init() {}
}
