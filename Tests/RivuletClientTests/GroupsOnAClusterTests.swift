import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Testing

/// Consumer groups on a three-broker cluster: the group's coordinator is the leader of its
/// `__consumer_offsets` partition, which is usually not the broker that created the topic, and moves
/// when that leader dies.
@Suite(.serialized)
struct GroupsOnAClusterTests {
    static func startCluster() async throws -> (EmbeddedCluster, ClusterClient) {
        let groups = GroupCoordinatorConfig(groupMinSessionTimeoutMs: 1000, groupInitialRebalanceDelayMs: 0,
                                            offsetsTopicNumPartitions: 6)
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: 3, storageURL: "memory://", randomSeed: 11,
            customize: { config in
                config.logRetentionCheckIntervalMs = 3_600_000
                config.replicaFetchBackoffMs = 20
                config.replicaFetchWaitMaxMs = 100
                config.replicaLagTimeMaxMs = 1000
                config.metadataRefreshIntervalMs = 1000
            },
            groupCoordinator: { _ in BrokerGroupCoordinator(config: groups) })
        configuration.sessionTimeoutMs = 500
        let cluster = try EmbeddedCluster(configuration)
        try await cluster.start()
        var config = ClientConfig(bootstrapServers: cluster.bootstrapAddresses)
        config.retryBackoffMs = 20
        config.retryBackoffMaxMs = 100
        config.reconnectBackoffMs = 20
        config.reconnectBackoffMaxMs = 100
        config.requestTimeoutMs = 3000
        return (cluster, ClusterClient(config: config, transport: cluster.transport))
    }

    static func member(_ client: ClusterClient, group: String) throws -> GroupConsumer {
        var groupConfig = ConsumerGroupConfig(groupId: group)
        groupConfig.sessionTimeoutMs = 6000
        groupConfig.heartbeatIntervalMs = 300
        groupConfig.enableAutoCommit = false
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 100
        return try GroupConsumer(cluster: client, config: config, groupConfig: groupConfig)
    }

    /// Polls until `count` records arrived (bounded), returning their values.
    static func consume(_ member: GroupConsumer, count: Int, timeoutMs: Int = 20000) async throws -> [String] {
        var values: [String] = []
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(timeoutMs)
        while values.count < count, clock.now < deadline {
            let records = try await member.poll(timeoutMs: 200)
            try records.forEach { record in
                if let value = record.value { values.append(String(buffer: value)) }
            }
        }
        return values
    }

    @Test func aGroupJoinsCommitsAndResumes_whenItsCoordinatorIsAnotherBroker_andAfterThatBrokerDies() async throws {
        let (cluster, client) = try await Self.startCluster()
        do {
            try await run(cluster, client)
        } catch {
            await client.close()
            await cluster.shutdown()
            throw error
        }
        await client.close()
        await cluster.shutdown()
    }

    private func run(_ cluster: EmbeddedCluster, _ client: ClusterClient) async throws {
        let admin = Admin(cluster: client)
        // Brokers register with the coordinator as they start: retry until all three are known.
        var created = false
        for _ in 0 ..< 100 where !created {
            do {
                created = try await admin.createTopic(NewTopic(name: "orders", partitions: 2, replicationFactor: 3)).error == nil
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(created)
        _ = await cluster.waitForLeader(of: "orders", partition: 0)
        _ = await cluster.waitForLeader(of: "orders", partition: 1)
        let producer = try Producer(cluster: client, config: { var config = ProducerConfig(); config.lingerMs = 0; return config }())
        for index in 0 ..< 40 {
            _ = try await producer.send(topic: "orders", key: ByteBuffer(string: "k\(index)"), value: ByteBuffer(string: "v\(index)"))
        }

        // The first member: joins wherever the group's offsets partition is led, reads half, commits.
        let group = "billing"
        let first = try Self.member(client, group: group)
        try first.subscribe(["orders"])
        let firstValues = try await Self.consume(first, count: 40)
        #expect(firstValues.count == 40, "the first member read \(firstValues.count) of 40 records")
        try await first.commitSync()
        await first.close()

        // Kill the group's coordinator: the offsets partition's leadership moves to an in-sync replica,
        // which must load the group and its commits from its own copy of the log.
        let offsetsPartition = GroupCoordinatorConfig(offsetsTopicNumPartitions: 6).offsetsPartition(for: group)
        let coordinatorNode = try #require(cluster.leader(of: GroupCoordinatorConfig.offsetsTopicName, partition: offsetsPartition))
        await cluster.kill(broker: coordinatorNode)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while clock.now < deadline {
            let leader = cluster.leader(of: GroupCoordinatorConfig.offsetsTopicName, partition: offsetsPartition)
            if let leader, leader != coordinatorNode { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let newCoordinator = cluster.leader(of: GroupCoordinatorConfig.offsetsTopicName, partition: offsetsPartition)
        #expect(newCoordinator != nil && newCoordinator != coordinatorNode)

        for index in 40 ..< 50 {
            _ = try await producer.send(topic: "orders", key: ByteBuffer(string: "k\(index)"), value: ByteBuffer(string: "v\(index)"))
        }
        await producer.close()

        // A new member resumes at the committed offsets: only the 10 new records, no duplicates.
        let second = try Self.member(client, group: group)
        try second.subscribe(["orders"])
        let secondValues = try await Self.consume(second, count: 10)
        let more = try await Self.consume(second, count: 1, timeoutMs: 500)
        #expect(Set(secondValues) == Set((40 ..< 50).map { "v\($0)" }), "read \(secondValues.sorted())")
        #expect(more.isEmpty, "records read twice: \(more)")
        await second.close()
    }
}
