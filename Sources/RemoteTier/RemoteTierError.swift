/// What went wrong talking to the remote tier. Every case names what it can:
/// the node, the page's key, the server's own words.
public enum RemoteTierError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No node answered (connection refused, timed out, closed).
    case unreachable(String)
    /// A node answered with an error that no redirection or retry fixes.
    case server(String)
    /// More redirections than a healthy cluster ever needs for one command.
    case tooManyRedirections(key: String)
    /// The value under a page's key is not a page this tier wrote (bad magic,
    /// length, checksum, or a key of another namespace or page).
    case notAPage(key: String, reason: String)
    /// `WAIT` saw fewer replicas acknowledge the write than configured.
    case notReplicated(key: String, acknowledged: Int, required: Int)
    /// A page could not be read: the node serving it is down or failing, and
    /// no replica took over in time. `cause` is the underlying error.
    case pageUnavailable(key: String, cause: String)
    /// Bad input: an empty namespace, a page too large, an address that is not host:port.
    case badInput(String)

    public var description: String {
        switch self {
        case .unreachable(let what): "remote tier: unreachable: \(what)"
        case .server(let message): "remote tier: server error: \(message)"
        case .tooManyRedirections(let key): "remote tier: too many redirections for \(key)"
        case .notAPage(let key, let reason):
            "remote tier: \(key) is not a page of this tier (\(reason))"
        case .notReplicated(let key, let acknowledged, let required):
            "remote tier: \(key) reached \(acknowledged) of \(required) replicas"
        case .pageUnavailable(let key, let cause):
            "remote tier: page \(key) is unavailable: \(cause)"
        case .badInput(let what): "remote tier: \(what)"
        }
    }
}
