/// Which rebalance protocol an assignor works with (Kafka's `RebalanceProtocol`).
public enum RebalanceProtocol: Sendable, Hashable {
    /// Every member gives up all its partitions before each rebalance.
    case eager
    /// Members keep their partitions through a rebalance and give up only those that move
    /// (KIP-429); a member that loses partitions rejoins once more so they can be handed over.
    case cooperative
}

/// A client-side partition assignor (Kafka's `ConsumerPartitionAssignor`): the group leader runs
/// it over every member's subscription. Outputs are deterministic for the same inputs.
public protocol ConsumerPartitionAssignor: Sendable {
    /// The protocol name in JoinGroup ("range", "roundrobin", "cooperative-sticky"): members of one
    /// group agree on one by vote.
    var name: String { get }
    /// Which rebalance protocol the assignor supports.
    var rebalanceProtocol: RebalanceProtocol { get }
    /// Assigns every partition of the subscribed topics.
    ///
    /// - Parameters:
    ///   - partitionsPerTopic: topic -> partition count (topics unknown to the cluster are absent).
    ///   - subscriptions: member id -> subscription.
    /// - Returns: member id -> its partitions (every member gets an entry, maybe empty).
    func assign(partitionsPerTopic: [String: Int32], subscriptions: [String: GroupSubscription]) -> [String: [TopicAndPartition]]
}

/// Members in Kafka's order (`AbstractPartitionAssignor.MemberInfo`): by group instance id when
/// both have one, else by member id.
func sortedMembers(_ subscriptions: [String: GroupSubscription]) -> [String] {
    subscriptions.keys.sorted { lhs, rhs in
        let left = subscriptions[lhs]?.groupInstanceId
        let right = subscriptions[rhs]?.groupInstanceId
        if let left, let right, left != right { return left < right }
        if left != nil, right == nil { return true }
        if left == nil, right != nil { return false }
        return lhs < rhs
    }
}

/// The assignors Rivulet's consumer knows, by name.
public enum ConsumerPartitionAssignors {
    /// "range", "roundrobin", "cooperative-sticky" (and Java's class names for them).
    public static func named(_ name: String) -> (any ConsumerPartitionAssignor)? {
        switch name.trimmingCharacters(in: " \t") {
        case "range", "org.apache.kafka.clients.consumer.RangeAssignor": RangeAssignor()
        case "roundrobin", "org.apache.kafka.clients.consumer.RoundRobinAssignor": RoundRobinAssignor()
        case "cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": CooperativeStickyAssignor()
        default: nil
        }
    }
}
