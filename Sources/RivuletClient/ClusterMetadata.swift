import RivuletTransport
import RivuletWire

/// One broker as metadata describes it.
public struct BrokerNode: Hashable, Sendable, CustomStringConvertible {
    /// `node.id` / `broker.id`.
    public var nodeId: Int32
    /// Where clients connect.
    public var address: BrokerAddress
    /// `broker.rack`, if set.
    public var rack: String?

    public init(nodeId: Int32, address: BrokerAddress, rack: String? = nil) {
        self.nodeId = nodeId
        self.address = address
        self.rack = rack
    }

    public var description: String { "\(nodeId)@\(address)" + (rack.map { " rack \($0)" } ?? "") }
}

/// One partition as metadata describes it.
public struct PartitionMetadata: Hashable, Sendable {
    /// The partition number.
    public var partition: Int32
    /// The leader's node id, or -1 when there is none (election in progress).
    public var leaderId: Int32
    /// The leader epoch, or -1 when the broker does not say (Metadata < v7).
    public var leaderEpoch: Int32
    /// Every replica's node id, the preferred leader first.
    public var replicas: [Int32]
    /// The in-sync replicas.
    public var isr: [Int32]
    /// Replicas on offline log directories.
    public var offlineReplicas: [Int32]
    /// The partition's error code (LEADER_NOT_AVAILABLE while electing), 0 when fine.
    public var errorCode: Int16

    public init(partition: Int32, leaderId: Int32, leaderEpoch: Int32 = -1, replicas: [Int32] = [], isr: [Int32] = [],
                offlineReplicas: [Int32] = [], errorCode: Int16 = 0) {
        self.partition = partition
        self.leaderId = leaderId
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.isr = isr
        self.offlineReplicas = offlineReplicas
        self.errorCode = errorCode
    }
}

/// One topic as metadata describes it.
public struct TopicMetadata: Hashable, Sendable {
    /// The topic name.
    public var name: String
    /// The topic id (zero from brokers before Metadata v10).
    public var topicId: KafkaUUID
    /// Whether the topic is internal (`__consumer_offsets`).
    public var isInternal: Bool
    /// The partitions, indexed by partition number (`partitions[p].partition == p`).
    public var partitions: [PartitionMetadata]
    /// The topic's error code, 0 when fine (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE...).
    public var errorCode: Int16

    public init(name: String, topicId: KafkaUUID = .zero, isInternal: Bool = false, partitions: [PartitionMetadata],
                errorCode: Int16 = 0) {
        self.name = name
        self.topicId = topicId
        self.isInternal = isInternal
        self.partitions = partitions
        self.errorCode = errorCode
    }

    /// The number of partitions.
    public var partitionCount: Int { partitions.count }
}

/// A snapshot of the cluster's metadata: brokers, controller and the topics asked about.
public struct ClusterMetadata: Sendable {
    /// The cluster id, if the broker reports one (Metadata v2+).
    public var clusterId: String?
    /// The controller's node id, or -1.
    public var controllerId: Int32
    /// The live brokers by node id.
    public var brokers: [Int32: BrokerNode]
    /// The topics known to this client, by name.
    public var topics: [String: TopicMetadata]
    /// When this snapshot was fetched, on the client's monotonic clock (0: never).
    public var fetchedAtNanoseconds: UInt64

    public init(clusterId: String? = nil, controllerId: Int32 = -1, brokers: [Int32: BrokerNode] = [:],
                topics: [String: TopicMetadata] = [:], fetchedAtNanoseconds: UInt64 = 0) {
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
        self.topics = topics
        self.fetchedAtNanoseconds = fetchedAtNanoseconds
    }

    /// The leader of `partition`, if known and available.
    public func leader(of partition: TopicAndPartition) -> BrokerNode? {
        guard let topic = topics[partition.topic], partition.partition >= 0,
              Int(partition.partition) < topic.partitions.count else { return nil }
        let leaderId = topic.partitions[Int(partition.partition)].leaderId
        return leaderId >= 0 ? brokers[leaderId] : nil
    }

    /// The topic with `topicId`, if known.
    public func topic(id: KafkaUUID) -> TopicMetadata? {
        topics.values.first { $0.topicId == id }
    }

    /// Reads a Metadata response. Partitions are placed by their number; a response that skips
    /// numbers leaves placeholders with leader -1 and LEADER_NOT_AVAILABLE (never traps).
    static func topics(from response: MetadataResponse) -> [TopicMetadata] {
        response.topics.compactMap { topic -> TopicMetadata? in
            guard let name = topic.name, !name.isEmpty else { return nil }
            let maxIndex = topic.partitions.map { Int($0.partitionIndex) }.max() ?? -1
            // A hostile answer could claim partition 2^31-1; cap what we allocate by what was sent.
            let count = min(maxIndex + 1, topic.partitions.count * 2 + 16)
            var partitions = (0 ..< max(count, 0)).map {
                PartitionMetadata(partition: Int32($0), leaderId: -1, errorCode: KafkaErrorCode.leaderNotAvailable.rawValue)
            }
            for partition in topic.partitions where partition.partitionIndex >= 0 && Int(partition.partitionIndex) < count {
                partitions[Int(partition.partitionIndex)] = PartitionMetadata(
                    partition: partition.partitionIndex, leaderId: partition.leaderId, leaderEpoch: partition.leaderEpoch,
                    replicas: partition.replicaNodes, isr: partition.isrNodes, offlineReplicas: partition.offlineReplicas,
                    errorCode: partition.errorCode)
            }
            return TopicMetadata(name: name, topicId: topic.topicId, isInternal: topic.isInternal, partitions: partitions,
                                 errorCode: topic.errorCode)
        }
    }

    /// Reads the brokers of a Metadata response; entries with unusable ports are skipped.
    static func brokers(from response: MetadataResponse) -> [Int32: BrokerNode] {
        var brokers: [Int32: BrokerNode] = [:]
        for broker in response.brokers where (1 ... 65535).contains(broker.port) {
            brokers[broker.nodeId] = BrokerNode(nodeId: broker.nodeId, address: BrokerAddress(host: broker.host, port: Int(broker.port)),
                                                rack: broker.rack)
        }
        return brokers
    }
}
