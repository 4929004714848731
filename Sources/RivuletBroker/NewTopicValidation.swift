import RivuletCore
import RivuletStorage
import RivuletWire

/// The checks Kafka makes on a new topic before it is placed, shared by every `ClusterControl`: a
/// valid name that neither exists nor collides with another ('.' versus '_'), the topic count
/// limit, and either an explicit replica assignment (consecutive partitions, known and distinct
/// brokers, one replication factor) or a partition count and replication factor the cluster can hold.
enum NewTopicValidation {
    /// Topics Kafka marks internal.
    static let internalTopics: Set<String> = ["__consumer_offsets", "__transaction_state"]

    /// What a validated new topic asks for.
    enum Layout {
        /// Replica lists given by the request, partition by partition.
        case assigned([[Int32]])
        /// A partition count and a replication factor for the cluster's placement to fill in.
        case placed(partitions: Int32, replicationFactor: Int16)
    }

    /// Validates `topic` against `image` (whose brokers are `brokerIds`) and the broker settings.
    ///
    /// - Throws: Kafka's error for the first check that fails.
    static func validate(_ topic: NewTopic, in image: ClusterImage, brokerIds: [Int32],
                         config: BrokerConfig) throws(KafkaApiError) -> Layout {
        do throws(StorageError) {
            try TopicPartition.validateTopicName(topic.name)
        } catch {
            throw KafkaApiError(.invalidTopicException, error.description)
        }
        if image.topic(named: topic.name) != nil {
            throw KafkaApiError(.topicAlreadyExists, "Topic '\(topic.name)' already exists.")
        }
        let normalized = collisionKey(topic.name)
        if let existing = image.topicsByName.keys.first(where: { collisionKey($0) == normalized }) {
            throw KafkaApiError(.invalidTopicException, "Topic '\(topic.name)' collides with existing topic: \(existing)")
        }
        guard image.topicsByName.count < config.topicsMax else {
            throw KafkaApiError(.policyViolation, "The cluster holds \(image.topicsByName.count) topics, the most allowed")
        }
        if !topic.assignments.isEmpty {
            guard topic.numPartitions == -1, topic.replicationFactor == -1 else {
                throw KafkaApiError(.invalidRequest,
                                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
            }
            guard topic.assignments.count <= Int(config.topicPartitionsMax) else {
                throw KafkaApiError(.invalidPartitions, "At most \(config.topicPartitionsMax) partitions are allowed per topic")
            }
            var replicaLists: [[Int32]] = []
            for index in 0 ..< Int32(topic.assignments.count) {
                guard let replicas = topic.assignments[index] else {
                    throw KafkaApiError(.invalidReplicaAssignment,
                                        "Partitions should be numbered consecutively from 0; partition \(index) is missing")
                }
                try checkReplicas(replicas, brokers: brokerIds, partition: index)
                replicaLists.append(replicas)
            }
            if let first = replicaLists.first, replicaLists.contains(where: { $0.count != first.count }) {
                throw KafkaApiError(.invalidReplicaAssignment, "Inconsistent replication factor between partitions")
            }
            return .assigned(replicaLists)
        }
        let count = topic.numPartitions == -1 ? config.numPartitions : topic.numPartitions
        guard count > 0 else {
            throw KafkaApiError(.invalidPartitions, "Number of partitions was set to an invalid non-positive value.")
        }
        guard count <= config.topicPartitionsMax else {
            throw KafkaApiError(.invalidPartitions, "Number of partitions \(count) is more than the \(config.topicPartitionsMax) allowed per topic")
        }
        let replicationFactor = topic.replicationFactor == -1 ? config.defaultReplicationFactor : topic.replicationFactor
        guard replicationFactor > 0 else {
            throw KafkaApiError(.invalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
        }
        guard Int(replicationFactor) <= brokerIds.count else {
            throw KafkaApiError(.invalidReplicationFactor,
                                "Unable to replicate the partition \(replicationFactor) time(s): The target replication factor of \(replicationFactor) cannot be reached because only \(brokerIds.count) broker(s) are registered.")
        }
        return .placed(partitions: count, replicationFactor: replicationFactor)
    }

    /// A fresh topic id: random, never zero, not used by another topic of `image`.
    static func newTopicId(in image: ClusterImage, using generator: inout SeededGenerator) -> KafkaUUID {
        var topicId = KafkaUUID.random(using: &generator)
        while topicId == .zero || image.topic(id: topicId) != nil { topicId = KafkaUUID.random(using: &generator) }
        return topicId
    }

    /// Kafka refuses topics whose names differ only in '.' versus '_' (metric names would collide).
    static func collisionKey(_ name: String) -> String {
        String(name.map { $0 == "." ? "_" : $0 })
    }

    /// An explicit replica list: not empty, no broker twice, every broker known.
    static func checkReplicas(_ replicas: [Int32], brokers: [Int32], partition: Int32) throws(KafkaApiError) {
        guard !replicas.isEmpty else {
            throw KafkaApiError(.invalidReplicaAssignment, "The replica list of partition \(partition) is empty")
        }
        guard Set(replicas).count == replicas.count else {
            throw KafkaApiError(.invalidReplicaAssignment, "Duplicate brokers not allowed in replica assignment: \(replicas) for partition \(partition)")
        }
        let unknown = replicas.filter { !brokers.contains($0) }
        guard unknown.isEmpty else {
            throw KafkaApiError(.invalidReplicaAssignment, "Unknown broker(s) in replica assignment: \(unknown) for partition \(partition)")
        }
    }
}
