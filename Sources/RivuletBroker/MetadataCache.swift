import RivuletStorage
import RivuletWire
import Synchronization

/// One broker as the cluster knows it: the address clients dial and its rack.
public struct BrokerEndpoint: Sendable, Hashable {
    /// The broker's `node.id`.
    public var nodeId: Int32
    /// The advertised host.
    public var host: String
    /// The advertised port.
    public var port: Int32
    /// `broker.rack`, nil when not set.
    public var rack: String?

    public init(nodeId: Int32, host: String, port: Int32, rack: String?) {
        self.nodeId = nodeId
        self.host = host
        self.port = port
        self.rack = rack
    }
}

/// The replicas of one partition and who leads them (Kafka's `PartitionRegistration`).
public struct PartitionMetadata: Sendable, Hashable {
    /// The partition number.
    public var partition: Int32
    /// The leader's node id, -1 when the partition has none (offline).
    public var leader: Int32
    /// Bumped on every leadership change; stamped into every batch the leader appends.
    public var leaderEpoch: Int32
    /// The brokers holding a replica, preferred leader first.
    public var replicas: [Int32]
    /// The in-sync replicas (the leader included).
    public var isr: [Int32]
    /// Replicas whose log directory is offline.
    public var offlineReplicas: [Int32]
    /// Bumped on every change of the partition's state, leader or ISR (Kafka's partition epoch; in a
    /// coordinated cluster the version of the partition's state znode). A replica applies a state only
    /// when its leader epoch is newer, or equal with a newer partition epoch.
    public var partitionEpoch: Int32

    public init(partition: Int32, leader: Int32, leaderEpoch: Int32, replicas: [Int32], isr: [Int32], offlineReplicas: [Int32] = [],
                partitionEpoch: Int32 = 0) {
        self.partition = partition
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.isr = isr
        self.offlineReplicas = offlineReplicas
        self.partitionEpoch = partitionEpoch
    }
}

/// One topic: its name, id, partitions and config overrides.
public struct TopicMetadata: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// The topic id (Fetch v13+, Metadata v10+, DeleteTopics v6+).
    public var topicId: KafkaUUID
    /// Whether Kafka treats the topic as internal (`__consumer_offsets`, `__transaction_state`).
    public var isInternal: Bool
    /// The partitions, indexed by partition number (`partitions[i].partition == i`).
    public var partitions: [PartitionMetadata]
    /// The topic's config overrides.
    public var config: TopicConfig

    public init(name: String, topicId: KafkaUUID, isInternal: Bool = false, partitions: [PartitionMetadata], config: TopicConfig) {
        self.name = name
        self.topicId = topicId
        self.isInternal = isInternal
        self.partitions = partitions
        self.config = config
    }

    /// The partition with number `partition`, nil when out of range.
    public func partition(_ partition: Int32) -> PartitionMetadata? {
        guard partition >= 0, Int(partition) < partitions.count else { return nil }
        return partitions[Int(partition)]
    }

    /// The topic-partitions of this topic.
    public var topicPartitions: [TopicPartition] {
        partitions.map { TopicPartition(topic: name, partition: $0.partition) }
    }
}

/// What every broker knows about the cluster at one moment: an immutable value, replaced as a whole.
public struct ClusterImage: Sendable {
    /// The cluster id (22 characters of base64).
    public var clusterId: String
    /// The controller's node id (the broker itself on a single node), -1 when there is none.
    public var controllerId: Int32
    /// The live brokers by node id.
    public var brokers: [Int32: BrokerEndpoint]
    /// The topics by name.
    public private(set) var topicsByName: [String: TopicMetadata]
    /// Topic names by topic id.
    public private(set) var topicNamesById: [KafkaUUID: String]

    public init(clusterId: String, controllerId: Int32, brokers: [Int32: BrokerEndpoint], topics: [TopicMetadata] = []) {
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.brokers = brokers
        topicsByName = [:]
        topicNamesById = [:]
        for topic in topics { put(topic) }
    }

    /// The topic named `name`.
    public func topic(named name: String) -> TopicMetadata? { topicsByName[name] }

    /// The topic with id `topicId`.
    public func topic(id topicId: KafkaUUID) -> TopicMetadata? {
        topicNamesById[topicId].flatMap { topicsByName[$0] }
    }

    /// Every topic, sorted by name.
    public var topics: [TopicMetadata] { topicsByName.values.sorted { $0.name < $1.name } }

    /// Adds or replaces a topic.
    public mutating func put(_ topic: TopicMetadata) {
        if let old = topicsByName[topic.name], old.topicId != topic.topicId { topicNamesById.removeValue(forKey: old.topicId) }
        topicsByName[topic.name] = topic
        topicNamesById[topic.topicId] = topic.name
    }

    /// Removes a topic; returns it when it existed.
    @discardableResult
    public mutating func remove(topic name: String) -> TopicMetadata? {
        guard let old = topicsByName.removeValue(forKey: name) else { return nil }
        topicNamesById.removeValue(forKey: old.topicId)
        return old
    }

    /// Brokers sorted by node id.
    public var sortedBrokers: [BrokerEndpoint] { brokers.values.sorted { $0.nodeId < $1.nodeId } }
}

/// The broker's view of the cluster, read by every request handler and replaced by whoever controls
/// topics (`LocalClusterControl` on a single node, the controller's updates in a cluster).
///
/// Thread-safe. Readers take a snapshot (`image`), which stays consistent for the whole request.
public final class MetadataCache: Sendable {
    private let current: Mutex<ClusterImage>

    /// A cache holding `image`.
    public init(_ image: ClusterImage) {
        current = Mutex(image)
    }

    /// The current image.
    public var image: ClusterImage { current.withLock { $0 } }

    /// Replaces the image.
    public func publish(_ image: ClusterImage) {
        current.withLock { $0 = image }
    }

    /// Changes the image in place and returns the result.
    @discardableResult
    public func update(_ change: (inout ClusterImage) -> Void) -> ClusterImage {
        current.withLock { image in
            change(&image)
            return image
        }
    }
}
