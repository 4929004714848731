import RivuletWire

/// A topic to create (CreateTopics, or Metadata's auto-creation).
public struct NewTopic: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// Partitions; -1 takes `num.partitions`.
    public var numPartitions: Int32
    /// Replicas per partition; -1 takes `default.replication.factor`.
    public var replicationFactor: Int16
    /// Explicit replica lists by partition number (then `numPartitions` and `replicationFactor` must be -1).
    public var assignments: [Int32: [Int32]]
    /// Config overrides (name, value); a nil value is INVALID_CONFIG.
    public var configs: [ConfigOverride]

    public init(name: String, numPartitions: Int32 = -1, replicationFactor: Int16 = -1,
                assignments: [Int32: [Int32]] = [:], configs: [ConfigOverride] = []) {
        self.name = name
        self.numPartitions = numPartitions
        self.replicationFactor = replicationFactor
        self.assignments = assignments
        self.configs = configs
    }
}

/// One config override as requests carry it.
public struct ConfigOverride: Sendable, Hashable {
    /// The config name (`retention.ms`).
    public var name: String
    /// The value; nil (a null in the request) is refused with INVALID_CONFIG.
    public var value: String?

    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}

/// A topic named either way (DeleteTopics v6 accepts ids).
public enum TopicReference: Sendable, Hashable {
    case name(String)
    case id(KafkaUUID)
}

/// More partitions for a topic (CreatePartitions).
public struct PartitionIncrease: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The total number of partitions wanted (more than now).
    public var totalCount: Int32
    /// Replica lists for the new partitions, or nil to let the cluster choose.
    public var assignments: [[Int32]]?

    public init(topic: String, totalCount: Int32, assignments: [[Int32]]? = nil) {
        self.topic = topic
        self.totalCount = totalCount
        self.assignments = assignments
    }
}

/// New config overrides for a topic (AlterConfigs replaces all of a topic's overrides).
public struct TopicConfigChange: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// Its complete new set of overrides.
    public var configs: [ConfigOverride]

    public init(topic: String, configs: [ConfigOverride]) {
        self.topic = topic
        self.configs = configs
    }
}

/// A range of producer ids handed to one broker (Kafka's `ProducerIdsBlock`).
public struct ProducerIdBlock: Sendable, Hashable {
    /// The first id of the block.
    public var firstProducerId: Int64
    /// How many ids the block holds.
    public var size: Int64

    public init(firstProducerId: Int64, size: Int64) {
        self.firstProducerId = firstProducerId
        self.size = size
    }

    /// The id after the block's last.
    public var nextBlockFirstId: Int64 { firstProducerId + size }
}

/// The changes to cluster metadata that a broker asks for on behalf of clients: topic lifecycle,
/// topic configs and producer-id blocks. Whoever implements it validates, makes the change durable,
/// publishes the new `ClusterImage` to the `MetadataCache`, and has the replicas opened or closed.
///
/// `LocalClusterControl` is the single-node implementation (state in the storage's document store);
/// the replication work adds one backed by the controller. Requests arrive deduplicated: a name
/// repeated in one request is answered INVALID_REQUEST by the handler before it gets here. Results are
/// in input order. Thread-safe.
public protocol ClusterControl: Sendable {
    /// Creates topics (or, with `validateOnly`, only checks them). Each result is the topic as created
    /// or the reason it was not: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
    /// INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_REQUEST, INVALID_CONFIG,
    /// POLICY_VIOLATION (too many topics), KAFKA_STORAGE_ERROR.
    func createTopics(_ topics: [NewTopic], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>]

    /// Deletes topics and their logs. Each result is the topic as it was, or UNKNOWN_TOPIC_OR_PARTITION,
    /// UNKNOWN_TOPIC_ID, TOPIC_DELETION_DISABLED, KAFKA_STORAGE_ERROR.
    func deleteTopics(_ topics: [TopicReference]) async -> [Result<TopicMetadata, KafkaApiError>]

    /// Adds partitions to topics. Each result is the topic afterwards, or UNKNOWN_TOPIC_OR_PARTITION,
    /// INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT, KAFKA_STORAGE_ERROR.
    func createPartitions(_ increases: [PartitionIncrease], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>]

    /// Replaces topics' config overrides. Each result is the topic afterwards, or
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, KAFKA_STORAGE_ERROR.
    func alterTopicConfigs(_ changes: [TopicConfigChange], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>]

    /// Reserves a block of producer ids that no other broker gets, durably (ids are never reused,
    /// even after a restart).
    ///
    /// - Throws: KAFKA_STORAGE_ERROR when the reservation cannot be made durable.
    func allocateProducerIds() async throws(KafkaApiError) -> ProducerIdBlock
}
