import NIOCore
import RivuletWire

/// Request bodies for every API: the all-default value of each, plus fuller values of the APIs
/// real clients send most.
enum SampleRequests {
    static let defaults: [KafkaRequestBody] = [
        .produce(ProduceRequest()),
        .fetch(FetchRequest()),
        .listOffsets(ListOffsetsRequest()),
        .metadata(MetadataRequest()),
        .offsetCommit(OffsetCommitRequest()),
        .offsetFetch(OffsetFetchRequest()),
        .findCoordinator(FindCoordinatorRequest()),
        .joinGroup(JoinGroupRequest()),
        .heartbeat(HeartbeatRequest()),
        .leaveGroup(LeaveGroupRequest()),
        .syncGroup(SyncGroupRequest()),
        .describeGroups(DescribeGroupsRequest()),
        .listGroups(ListGroupsRequest()),
        .saslHandshake(SaslHandshakeRequest()),
        .apiVersions(ApiVersionsRequest()),
        .createTopics(CreateTopicsRequest()),
        .deleteTopics(DeleteTopicsRequest()),
        .deleteRecords(DeleteRecordsRequest()),
        .initProducerId(InitProducerIdRequest()),
        .offsetForLeaderEpoch(OffsetForLeaderEpochRequest()),
        .addPartitionsToTxn(AddPartitionsToTxnRequest()),
        .addOffsetsToTxn(AddOffsetsToTxnRequest()),
        .endTxn(EndTxnRequest()),
        .writeTxnMarkers(WriteTxnMarkersRequest()),
        .txnOffsetCommit(TxnOffsetCommitRequest()),
        .describeConfigs(DescribeConfigsRequest()),
        .alterConfigs(AlterConfigsRequest()),
        .saslAuthenticate(SaslAuthenticateRequest()),
        .createPartitions(CreatePartitionsRequest()),
        .describeCluster(DescribeClusterRequest()),
        .consumerGroupHeartbeat(ConsumerGroupHeartbeatRequest()),
    ]

    static let records = ByteBuffer(bytes: (0 ..< 200).map { UInt8(truncatingIfNeeded: $0 &* 7) })

    static let produce = ProduceRequest(
        transactionalId: nil, acks: -1, timeoutMs: 30_000,
        topicData: [
            .init(name: "orders", partitionData: [.init(index: 0, records: records), .init(index: 3, records: records)]),
            .init(name: "payments", partitionData: [.init(index: 1, records: nil)]),
        ])

    static let fetch = FetchRequest(
        replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 52_428_800, sessionId: 0, sessionEpoch: -1,
        topics: [.init(topic: "orders", topicId: KafkaUUID(mostSignificantBits: 1, leastSignificantBits: 2),
                       partitions: [.init(partition: 0, fetchOffset: 42, partitionMaxBytes: 1_048_576)])])

    static let metadata = MetadataRequest(topics: [.init(name: "orders"), .init(name: "payments")], allowAutoTopicCreation: true)

    static let createTopics = CreateTopicsRequest(
        topics: [.init(name: "orders", numPartitions: 3, replicationFactor: 1,
                       configs: [.init(name: "retention.ms", value: "60000")])],
        timeoutMs: 5_000)

    static let apiVersions = ApiVersionsRequest(clientSoftwareName: "rivulet-test", clientSoftwareVersion: "1.0")

    /// Every sample, the full ones first.
    static let all: [KafkaRequestBody] =
        [.produce(produce), .fetch(fetch), .metadata(metadata), .createTopics(createTopics), .apiVersions(apiVersions)] + defaults
}
