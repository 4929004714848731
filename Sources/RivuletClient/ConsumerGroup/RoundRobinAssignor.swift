/// Kafka's `RoundRobinAssignor`: every partition of every subscribed topic, sorted by topic and
/// partition, dealt in turn to the members in member order, skipping members not subscribed to
/// the partition's topic.
public struct RoundRobinAssignor: ConsumerPartitionAssignor {
    public init() {}
    public var name: String { "roundrobin" }
    public var rebalanceProtocol: RebalanceProtocol { .eager }

    public func assign(partitionsPerTopic: [String: Int32], subscriptions: [String: GroupSubscription]) -> [String: [TopicAndPartition]] {
        var assignment = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, [TopicAndPartition]()) })
        let members = sortedMembers(subscriptions)
        guard !members.isEmpty else { return assignment }
        let subscribedTopics = Set(subscriptions.values.flatMap(\.topics))
        var next = 0
        for topic in partitionsPerTopic.keys.sorted() where subscribedTopics.contains(topic) {
            for partition in 0 ..< (partitionsPerTopic[topic] ?? 0) {
                // Kafka's CircularIterator: advance until a member subscribed to the topic.
                var tries = 0
                while subscriptions[members[next % members.count]]?.topics.contains(topic) != true, tries < members.count {
                    next += 1
                    tries += 1
                }
                let member = members[next % members.count]
                assignment[member, default: []].append(TopicAndPartition(topic: topic, partition: partition))
                next += 1
            }
        }
        return assignment
    }
}
