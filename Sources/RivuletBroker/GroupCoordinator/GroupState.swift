/// The state of a classic consumer group (Kafka's `ClassicGroupState`).
public enum GroupState: String, Sendable, Hashable, CaseIterable {
    /// No members; the group may still hold committed offsets.
    case empty = "Empty"
    /// Members are (re)joining; JoinGroup requests wait until all known members joined or the
    /// rebalance timeout passes.
    case preparingRebalance = "PreparingRebalance"
    /// The join phase ended; members wait for the leader's SyncGroup with the assignment.
    case completingRebalance = "CompletingRebalance"
    /// Every member has its assignment; heartbeats keep the members alive.
    case stable = "Stable"
    /// The group was deleted (DeleteGroups) and is being removed.
    case dead = "Dead"

    /// Kafka's name for the state, as in DescribeGroups and ListGroups.
    public var kafkaName: String { rawValue }

    /// Parses Kafka's state name, case-insensitively (ListGroups `statesFilter`).
    public init?(kafkaName: String) {
        guard let state = Self.allCases.first(where: { $0.rawValue.lowercased() == kafkaName.lowercased() }) else { return nil }
        self = state
    }
}
