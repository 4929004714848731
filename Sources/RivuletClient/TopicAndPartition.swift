/// One partition of one topic, as the client addresses it (Kafka's `TopicPartition`; named after
/// Kafka's older `TopicAndPartition` so that it does not clash with the storage module's type in
/// files that import both).
public struct TopicAndPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic-partition`, as Kafka prints it.
    public var description: String { "\(topic)-\(partition)" }

    public static func < (lhs: TopicAndPartition, rhs: TopicAndPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }
}
