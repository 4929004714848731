/// Kafka's `RangeAssignor` (without rack awareness): per topic, the subscribed members in member
/// order get consecutive ranges of partitions; the first `partitions % members` get one more.
public struct RangeAssignor: ConsumerPartitionAssignor {
    public init() {}
    public var name: String { "range" }
    public var rebalanceProtocol: RebalanceProtocol { .eager }

    public func assign(partitionsPerTopic: [String: Int32], subscriptions: [String: GroupSubscription]) -> [String: [TopicAndPartition]] {
        var assignment = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, [TopicAndPartition]()) })
        let members = sortedMembers(subscriptions)
        for topic in partitionsPerTopic.keys.sorted() {
            guard let count = partitionsPerTopic[topic], count > 0 else { continue }
            let subscribed = members.filter { subscriptions[$0]?.topics.contains(topic) == true }
            guard !subscribed.isEmpty else { continue }
            let perMember = Int(count) / subscribed.count
            let extra = Int(count) % subscribed.count
            for (index, member) in subscribed.enumerated() {
                let start = perMember * index + min(index, extra)
                let length = perMember + (index < extra ? 1 : 0)
                for partition in start ..< start + length {
                    assignment[member, default: []].append(TopicAndPartition(topic: topic, partition: Int32(partition)))
                }
            }
        }
        return assignment
    }
}
