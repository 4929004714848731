/// The settings of a consumer in a group, with the Java consumer's names, units and defaults.
public struct ConsumerGroupConfig: Sendable {
    /// `group.id`: the group the consumer joins. Required (not empty).
    public var groupId: String
    /// `group.instance.id`: makes the member static (KIP-345): a restart within the session timeout
    /// rejoins without a rebalance, and closing does not leave the group. Default nil (dynamic).
    public var groupInstanceId: String?
    /// `session.timeout.ms`: the member is removed this long after its last heartbeat. Must lie in
    /// the broker's `group.min/max.session.timeout.ms`. Default 45,000.
    public var sessionTimeoutMs: Int32 = 45000
    /// `heartbeat.interval.ms`: time between heartbeats (at most a third of the session timeout).
    /// Default 3000.
    public var heartbeatIntervalMs: Int64 = 3000
    /// `max.poll.interval.ms`: sent as the rebalance timeout, how long a rebalance waits for this
    /// member to rejoin. Default 300,000.
    public var maxPollIntervalMs: Int32 = 300_000
    /// `partition.assignment.strategy`: assignors in preference order; the group picks one every
    /// member supports. Default range then cooperative-sticky (Java's default).
    public var assignors: [any ConsumerPartitionAssignor] = [RangeAssignor(), CooperativeStickyAssignor()]
    /// `enable.auto.commit`: commit the positions of polled records every `auto.commit.interval.ms`,
    /// before each rebalance and on close. Default true.
    public var enableAutoCommit = true
    /// `auto.commit.interval.ms`. Default 5000.
    public var autoCommitIntervalMs: Int64 = 5000

    public init(groupId: String) {
        self.groupId = groupId
    }

    /// Checks ranges. Throws `ClientError.invalidConfig` naming the setting.
    public func validate() throws(ClientError) {
        if groupId.isEmpty { throw .invalidConfig(name: "group.id", value: groupId, reason: "a group consumer needs a group id") }
        if groupInstanceId?.isEmpty == true {
            throw .invalidConfig(name: "group.instance.id", value: "", reason: "must not be empty when set")
        }
        if sessionTimeoutMs <= 0 { throw .invalidConfig(name: "session.timeout.ms", value: "\(sessionTimeoutMs)", reason: "must be positive") }
        if heartbeatIntervalMs <= 0 || heartbeatIntervalMs >= Int64(sessionTimeoutMs) {
            throw .invalidConfig(name: "heartbeat.interval.ms", value: "\(heartbeatIntervalMs)",
                                 reason: "must be positive and below session.timeout.ms")
        }
        if maxPollIntervalMs <= 0 { throw .invalidConfig(name: "max.poll.interval.ms", value: "\(maxPollIntervalMs)", reason: "must be positive") }
        if assignors.isEmpty { throw .invalidConfig(name: "partition.assignment.strategy", value: "", reason: "needs at least one assignor") }
        if autoCommitIntervalMs < 0 {
            throw .invalidConfig(name: "auto.commit.interval.ms", value: "\(autoCommitIntervalMs)", reason: "must not be negative")
        }
    }

    /// Sets one setting by its Java name. Returns false for a name that is not a group setting.
    public mutating func set(_ name: String, _ value: String) throws(ClientError) -> Bool {
        func integer<T: FixedWidthInteger>(_: T.Type) throws(ClientError) -> T {
            guard let parsed = T(value.trimmingCharacters(in: " \t")) else {
                throw .invalidConfig(name: name, value: value, reason: "expected an integer")
            }
            return parsed
        }
        switch name {
        case "group.id": groupId = value
        case "group.instance.id": groupInstanceId = value.isEmpty ? nil : value
        case "session.timeout.ms": sessionTimeoutMs = try integer(Int32.self)
        case "heartbeat.interval.ms": heartbeatIntervalMs = try integer(Int64.self)
        case "max.poll.interval.ms": maxPollIntervalMs = try integer(Int32.self)
        case "auto.commit.interval.ms": autoCommitIntervalMs = try integer(Int64.self)
        case "enable.auto.commit":
            guard let flag = Bool(value.lowercased()) else { throw .invalidConfig(name: name, value: value, reason: "expected true or false") }
            enableAutoCommit = flag
        case "partition.assignment.strategy":
            var chosen: [any ConsumerPartitionAssignor] = []
            for part in value.split(separator: ",") {
                guard let assignor = ConsumerPartitionAssignors.named(String(part)) else {
                    throw .invalidConfig(name: name, value: value, reason: "unknown assignor \(part); use range, roundrobin or cooperative-sticky")
                }
                chosen.append(assignor)
            }
            assignors = chosen
        default:
            return false
        }
        return true
    }
}

/// Callbacks around rebalances (Kafka's `ConsumerRebalanceListener`). They run on the group
/// consumer's membership task, between the rebalance's steps (heartbeats wait for them, so keep
/// them short): a revoke callback runs once the partitions are no longer fetched or returned by
/// `poll` and, with auto commit, their positions are committed, before they are handed to another
/// member (a manual committer commits what it processed of them here); an assign callback runs once
/// the new partitions are positioned at the group's committed offsets. Empty lists are not reported.
public struct ConsumerRebalanceListener: Sendable {
    /// Partitions this member gives up in a rebalance (all of them with an eager assignor).
    public var onPartitionsRevoked: @Sendable ([TopicAndPartition]) async -> Void
    /// Partitions this member gained.
    public var onPartitionsAssigned: @Sendable ([TopicAndPartition]) async -> Void
    /// Partitions taken away without a chance to commit (the member was expired or fenced).
    public var onPartitionsLost: @Sendable ([TopicAndPartition]) async -> Void

    public init(onPartitionsRevoked: @escaping @Sendable ([TopicAndPartition]) async -> Void = { _ in },
                onPartitionsAssigned: @escaping @Sendable ([TopicAndPartition]) async -> Void = { _ in },
                onPartitionsLost: @escaping @Sendable ([TopicAndPartition]) async -> Void = { _ in }) {
        self.onPartitionsRevoked = onPartitionsRevoked
        self.onPartitionsAssigned = onPartitionsAssigned
        self.onPartitionsLost = onPartitionsLost
    }
}

/// What a group consumer's membership looks like now (for tools and the workload harness).
public struct GroupMembershipState: Sendable, Hashable {
    /// The member id the coordinator gave ("" before the first join).
    public var memberId: String
    /// The generation of the current assignment (-1 before the first join).
    public var generationId: Int32
    /// The chosen assignor.
    public var protocolName: String?
    /// The partitions this member owns.
    public var assignment: [TopicAndPartition]
    /// Whether a rebalance is under way for this member (it will rejoin or is joining).
    public var isRebalancing: Bool
    /// Completed rebalances (joins that ended with an assignment).
    public var rebalanceCount: Int
    /// When the assignment last changed (monotonic nanoseconds of the client's clock).
    public var assignmentChangedAtNanoseconds: UInt64
}
