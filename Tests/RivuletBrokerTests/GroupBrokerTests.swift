import NIOCore
import RivuletBroker
import RivuletStorage
import RivuletWire
import Testing

/// The group coordinator inside a broker, over the in-process transport on every storage backend:
/// FindCoordinator creates `__consumer_offsets`, commits are durable across restarts, and the
/// offsets topic is compacted.
@Suite struct GroupBrokerTests {
    static let offsetsTopic = "__consumer_offsets"

    static func findCoordinator(_ fixture: BrokerFixture, group: String) async throws -> FindCoordinatorResponse {
        try await fixture.send(FindCoordinatorRequest(key: group, keyType: 0), version: 3)
    }

    /// A single-member group "g" stable at generation 1; returns the member id.
    static func stableMember(_ fixture: BrokerFixture) async throws -> String {
        let protocols = [JoinGroupRequest.JoinGroupRequestProtocol(name: "range", metadata: ByteBuffer(string: "sub"))]
        let first = try await fixture.send(JoinGroupRequest(groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
                                                            memberId: "", protocolType: "consumer", protocols: protocols), version: 6)
        #expect(first.errorCode == KafkaErrorCode.memberIdRequired.rawValue)
        let joined = try await fixture.send(JoinGroupRequest(groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000,
                                                             memberId: first.memberId, protocolType: "consumer", protocols: protocols),
                                            version: 6)
        #expect(joined.errorCode == 0 && joined.generationId == 1 && joined.leader == first.memberId)
        let synced = try await fixture.send(SyncGroupRequest(groupId: "g", generationId: 1, memberId: first.memberId, assignments: [
            .init(memberId: first.memberId, assignment: ByteBuffer(string: "all")),
        ]), version: 4)
        #expect(synced.errorCode == 0 && synced.assignment == ByteBuffer(string: "all"))
        return first.memberId
    }

    static func commit(_ fixture: BrokerFixture, member: String, offset: Int64, partition: Int32 = 0) async throws -> Int16? {
        let response = try await fixture.send(OffsetCommitRequest(groupId: "g", generationIdOrMemberEpoch: 1, memberId: member, topics: [
            .init(name: "t", partitions: [.init(partitionIndex: partition, committedOffset: offset, committedMetadata: "m")]),
        ]), version: 8)
        return response.topics.first?.partitions.first?.errorCode
    }

    static func fetchOffset(_ fixture: BrokerFixture, partition: Int32 = 0) async throws -> Int64? {
        let response = try await fixture.send(OffsetFetchRequest(groupId: "g", topics: [.init(name: "t", partitionIndexes: [partition])]),
                                              version: 7)
        return response.topics.first?.partitions.first?.committedOffset
    }

    @Test(arguments: StorageKind.allCases)
    func findCoordinator_createsTheCompactedOffsetsTopic_andAnswersThisBroker(kind: StorageKind) async throws {
        try await withBroker(kind, customize: { $0.groupInitialRebalanceDelayMs = 0 }) { fixture in
            let answer = try await Self.findCoordinator(fixture, group: "g")
            #expect(answer.errorCode == 0 && answer.nodeId == 0 && answer.port == Int32(fixture.address.port))
            let transactional = try await fixture.send(FindCoordinatorRequest(key: "tx", keyType: 1), version: 3)
            #expect(transactional.errorCode == KafkaErrorCode.coordinatorNotAvailable.rawValue)
            let metadata = try await fixture.send(MetadataRequest(topics: [.init(name: Self.offsetsTopic)]), version: 9)
            let topic = try #require(metadata.topics.first)
            #expect(topic.errorCode == 0 && topic.isInternal && topic.partitions.count == 50)
            let partition = try fixture.partition(Self.offsetsTopic, 12)
            #expect(partition.config.compacts && !partition.config.deletes)
            // v4+: several keys at once.
            let many = try await fixture.send(FindCoordinatorRequest(keyType: 0, coordinatorKeys: ["a", "b"]), version: 4)
            #expect(many.coordinators.map(\.errorCode) == [0, 0] && many.coordinators.map(\.nodeId) == [0, 0])
        }
    }

    @Test(arguments: StorageKind.durable)
    func committedOffsetsAndTheGroup_surviveARestart(kind: StorageKind) async throws {
        try await withBroker(kind, customize: { $0.groupInitialRebalanceDelayMs = 0 }) { fixture in
            try await fixture.createTopic("t", partitions: 2)
            #expect(try await Self.findCoordinator(fixture, group: "g").errorCode == 0)
            let member = try await Self.stableMember(fixture)
            #expect(try await Self.commit(fixture, member: member, offset: 17) == 0)
            #expect(try await Self.commit(fixture, member: member, offset: 3, partition: 1) == 0)
            #expect(try await Self.commit(fixture, member: member, offset: 1, partition: 7) == KafkaErrorCode.unknownTopicOrPartition.rawValue)
            try await fixture.restart()
            #expect(try await Self.findCoordinator(fixture, group: "g").errorCode == 0)
            #expect(try await Self.fetchOffset(fixture) == 17)
            #expect(try await Self.fetchOffset(fixture, partition: 1) == 3)
            let described = try await fixture.send(DescribeGroupsRequest(groups: ["g"]), version: 5)
            #expect(described.groups.first?.groupState == "Stable" && described.groups.first?.members.first?.memberId == member)
            // The member keeps its generation across the restart.
            let beat = try await fixture.send(HeartbeatRequest(groupId: "g", generationId: 1, memberId: member), version: 4)
            #expect(beat.errorCode == 0)
        }
    }

    @Test(arguments: StorageKind.allCases)
    func offsetsTopic_isCompacted_keepingTheLatestCommitPerPartition(kind: StorageKind) async throws {
        try await withBroker(kind, customize: { $0.groupInitialRebalanceDelayMs = 0 }) { fixture in
            try await fixture.createTopic("t", partitions: 2)
            #expect(try await Self.findCoordinator(fixture, group: "g").errorCode == 0)
            // Small segments, so that commits seal several of them.
            let altered = try await fixture.send(AlterConfigsRequest(resources: [
                .init(resourceType: 2, resourceName: Self.offsetsTopic, configs: [
                    .init(name: "cleanup.policy", value: "compact"), .init(name: "segment.bytes", value: "1024"),
                ]),
            ]), version: 1)
            #expect(altered.responses.first?.errorCode == 0)
            let member = try await Self.stableMember(fixture)
            for offset in 1 ... 60 {
                #expect(try await Self.commit(fixture, member: member, offset: Int64(offset), partition: Int32(offset % 2)) == 0)
            }
            let groupPartition = GroupCoordinatorConfig().offsetsPartition(for: "g")
            let partition = try fixture.partition(Self.offsetsTopic, groupPartition)
            let before = try Self.recordCount(partition)
            let coordinator = try #require(try fixture.broker.groupCoordinator as? BrokerGroupCoordinator)
            let results = coordinator.compactAll()
            let result = try #require(results[TopicPartition(topic: Self.offsetsTopic, partition: groupPartition)])
            #expect(result.recordsRemoved > 40)
            #expect(try Self.recordCount(partition) < before)
            #expect(try await Self.fetchOffset(fixture) == 60)
            #expect(try await Self.fetchOffset(fixture, partition: 1) == 59)
            // Reloading from the compacted log gives the same offsets.
            try await fixture.restart()
            _ = try await Self.findCoordinator(fixture, group: "g")
            #expect(try await Self.fetchOffset(fixture) == 60)
            #expect(try await Self.fetchOffset(fixture, partition: 1) == 59)
        }
    }

    static func recordCount(_ partition: Partition) throws -> Int {
        var count = 0
        var offset = partition.logStartOffset ?? 0
        while offset < partition.highWatermark {
            let read = try partition.read(fetchOffset: offset, maxBytes: 1 << 20, isolation: .highWatermark, currentLeaderEpoch: -1,
                                          minOneMessage: true)
            var next = offset
            for batch in RecordBatchSequence(read.records) {
                count += Int(batch.header.recordCount)
                next = batch.header.lastOffset + 1
            }
            guard next > offset else { break }
            offset = next
        }
        return count
    }
}
