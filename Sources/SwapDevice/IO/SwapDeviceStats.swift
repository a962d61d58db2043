// The swap device's counters as one value.

/// A snapshot of a swap device's I/O counters. Keys are snake_case in JSON,
/// like every other statistic in the project.
public struct SwapDeviceStats: Sendable, Codable, Equatable {
    /// Pages written successfully.
    public var pagesWritten: Int
    /// Pages read successfully.
    public var pagesRead: Int
    /// Writes whose completion reported an error.
    public var writeErrors: Int
    /// Reads whose completion reported an error.
    public var readErrors: Int
    /// Requests submitted whose completion has not yet returned.
    public var inFlight: Int
    /// The largest `inFlight` seen.
    public var inFlightPeak: Int

    enum CodingKeys: String, CodingKey {
        case pagesWritten = "pages_written", pagesRead = "pages_read"
        case writeErrors = "write_errors", readErrors = "read_errors"
        case inFlight = "in_flight", inFlightPeak = "in_flight_peak"
    }

    /// Counters given field by field (all zero by default).
    public init(
        pagesWritten: Int = 0, pagesRead: Int = 0, writeErrors: Int = 0, readErrors: Int = 0,
        inFlight: Int = 0, inFlightPeak: Int = 0
    ) {
        self.pagesWritten = pagesWritten
        self.pagesRead = pagesRead
        self.writeErrors = writeErrors
        self.readErrors = readErrors
        self.inFlight = inFlight
        self.inFlightPeak = inFlightPeak
    }
}
