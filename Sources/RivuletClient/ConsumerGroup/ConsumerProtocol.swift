import NIOCore
import RivuletWire

/// What a member tells the group leader (Kafka's `ConsumerPartitionAssignor.Subscription`): its
/// topics, the partitions it owns (cooperative rebalancing), its generation and assignor user data.
public struct GroupSubscription: Sendable, Hashable {
    public var topics: [String]
    public var userData: ByteBuffer?
    /// Partitions the member owns now (sent from version 1; the cooperative protocol needs them).
    public var ownedPartitions: [TopicAndPartition]
    /// The generation the owned partitions belong to, -1 when unknown (version 2+).
    public var generationId: Int32
    /// `group.instance.id` of a static member (from the JoinGroup answer, not the bytes).
    public var groupInstanceId: String?

    public init(topics: [String], userData: ByteBuffer? = nil, ownedPartitions: [TopicAndPartition] = [],
                generationId: Int32 = -1, groupInstanceId: String? = nil) {
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
        self.generationId = generationId
        self.groupInstanceId = groupInstanceId
    }
}

/// The consumer protocol's bytes (`ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`,
/// each an int16 version and its fields), so Java, librdkafka and Python members share a group
/// with Rivulet's. Newer versions than this one knows are read with the latest layout, as Kafka does.
public enum ConsumerProtocol {
    /// The protocol type of consumer groups.
    public static let protocolType = "consumer"
    /// The subscription version written: 2 (owned partitions and generation).
    public static let subscriptionVersion: Int16 = 2
    /// The assignment version written (the layout has not changed since 0).
    public static let assignmentVersion: Int16 = 2

    /// Encodes a subscription.
    public static func encode(_ subscription: GroupSubscription, version: Int16 = subscriptionVersion) -> ByteBuffer {
        ConsumerProtocolSubscription(
            topics: subscription.topics, userData: subscription.userData,
            ownedPartitions: grouped(subscription.ownedPartitions).map { .init(topic: $0.0, partitions: $0.1) },
            generationId: subscription.generationId).versionPrefixed(version: version)
    }

    /// Decodes a subscription. Throws `WireError` for bytes that are not one.
    public static func decodeSubscription(_ bytes: ByteBuffer) throws -> GroupSubscription {
        var buffer = bytes
        let (value, _) = try ConsumerProtocolSubscription.decodeVersionPrefixed(&buffer, readingNewerAsLatest: true)
        return GroupSubscription(topics: value.topics, userData: value.userData,
                                 ownedPartitions: value.ownedPartitions.flatMap { owned in
                                     owned.partitions.map { TopicAndPartition(topic: owned.topic, partition: $0) }
                                 },
                                 generationId: value.generationId)
    }

    /// Encodes an assignment.
    public static func encode(assignment partitions: [TopicAndPartition], userData: ByteBuffer? = nil,
                              version: Int16 = assignmentVersion) -> ByteBuffer {
        ConsumerProtocolAssignment(assignedPartitions: grouped(partitions).map { .init(topic: $0.0, partitions: $0.1) },
                                   userData: userData).versionPrefixed(version: version)
    }

    /// Decodes an assignment; empty bytes are an empty assignment (what a coordinator sends a member
    /// the leader left out). Throws `WireError` for bytes that are not one.
    public static func decodeAssignment(_ bytes: ByteBuffer) throws -> [TopicAndPartition] {
        guard bytes.readableBytes > 0 else { return [] }
        var buffer = bytes
        let (value, _) = try ConsumerProtocolAssignment.decodeVersionPrefixed(&buffer, readingNewerAsLatest: true)
        return value.assignedPartitions.flatMap { owned in owned.partitions.map { TopicAndPartition(topic: owned.topic, partition: $0) } }
    }

    /// Partitions grouped by topic, topics and partitions sorted.
    static func grouped(_ partitions: [TopicAndPartition]) -> [(String, [Int32])] {
        var byTopic: [String: [Int32]] = [:]
        for partition in partitions { byTopic[partition.topic, default: []].append(partition.partition) }
        return byTopic.keys.sorted().map { ($0, (byTopic[$0] ?? []).sorted()) }
    }
}
