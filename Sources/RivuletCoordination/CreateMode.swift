/// How `create` makes a node, with ZooKeeper's `CreateMode` flags as raw values.
///
/// Ephemeral nodes belong to the creating session and vanish when it closes or expires; they cannot
/// have children. Sequential modes append a 10-digit, zero-padded counter taken from the parent's
/// child version (`cversion`) to the requested name, so `/brokers/seq-` becomes `/brokers/seq-0000000007`.
public enum CreateMode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// A node that lives until deleted.
    case persistent = 0
    /// A node that lives as long as the creating session.
    case ephemeral = 1
    /// A persistent node with a sequence suffix.
    case persistentSequential = 2
    /// An ephemeral node with a sequence suffix.
    case ephemeralSequential = 3

    /// Whether the node is owned by the creating session.
    public var isEphemeral: Bool { self == .ephemeral || self == .ephemeralSequential }
    /// Whether a sequence suffix is appended to the name.
    public var isSequential: Bool { self == .persistentSequential || self == .ephemeralSequential }

    public var description: String {
        switch self {
        case .persistent: "persistent"
        case .ephemeral: "ephemeral"
        case .persistentSequential: "persistent-sequential"
        case .ephemeralSequential: "ephemeral-sequential"
        }
    }
}
