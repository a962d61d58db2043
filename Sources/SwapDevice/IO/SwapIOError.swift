// What a failed page I/O reports to its completion.

/// Why a submitted page read or write failed.
public enum SwapIOError: Error, Sendable, Equatable {
    /// The system call failed with `errno` (`EIO`, `ENOSPC`, ...). An entry that is
    /// not a slot of this device (wrong type, slot 0, beyond `last_page`) reports
    /// `EINVAL`.
    case io(errno: Int32)
    /// The call transferred nothing and reported no error (end of file on a read).
    case shortIO
    /// The device was closed before the request was accepted.
    case closed
}
