import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Synchronization
import Testing

/// One embedded broker (memory storage, in-process transport) with its group coordinator, on a
/// clock `speed` times faster than real time, and a cluster client the group members share.
struct GroupHarness: Sendable {
    let clock: any EngineClock
    let cluster: EmbeddedCluster
    let client: ClusterClient

    /// Session timeouts from 1 s are allowed; `__consumer_offsets` has 4 partitions.
    static func start(speed: UInt64 = 10, initialDelayMs: Int32 = 100, metadataMaxAgeMs: Int64 = 300_000) async throws -> GroupHarness {
        let clock: any EngineClock = speed == 1 ? SystemClock() : ScaledClock(speed: speed)
        let groups = GroupCoordinatorConfig(groupMinSessionTimeoutMs: 1000, groupInitialRebalanceDelayMs: initialDelayMs,
                                            offsetsTopicNumPartitions: 4)
        let cluster = try EmbeddedCluster(EmbeddedCluster.Configuration(
            storageURL: "memory://", clock: clock, randomSeed: 7,
            customize: { $0.logRetentionCheckIntervalMs = 3_600_000 },
            groupCoordinator: { _ in BrokerGroupCoordinator(config: groups) }))
        try await cluster.start()
        var config = ClientConfig(bootstrapServers: cluster.bootstrapAddresses, clock: clock)
        config.retryBackoffMs = 20
        config.retryBackoffMaxMs = 200
        config.reconnectBackoffMs = 20
        config.reconnectBackoffMaxMs = 200
        config.metadataMaxAgeMs = metadataMaxAgeMs
        return GroupHarness(clock: clock, cluster: cluster, client: ClusterClient(config: config, transport: cluster.transport))
    }

    func createTopic(_ name: String, partitions: Int32) async throws {
        let result = try await Admin(cluster: client).createTopic(NewTopic(name: name, partitions: partitions))
        #expect(result.error == nil)
    }

    /// Produces `count` records spread over the partitions (keys "k<i>"), values "v<i>", and waits.
    func produce(_ topic: String, count: Int, from start: Int = 0) async throws {
        let producer = try Producer(cluster: client, config: { var config = ProducerConfig(); config.lingerMs = 1; return config }())
        for index in start ..< start + count {
            try await producer.send(topic: topic, key: ByteBuffer(string: "k\(index)"), value: ByteBuffer(string: "v\(index)"), completion: nil)
        }
        await producer.flush()
        await producer.close()
    }

    /// A group member with test-sized timeouts (session 6 s, heartbeat 500 ms, auto commit 1 s, in
    /// the harness clock's time).
    func member(group: String, assignor: String = "range", instance: String? = nil,
                listener: ConsumerRebalanceListener = ConsumerRebalanceListener(),
                configure: (inout ConsumerGroupConfig) -> Void = { _ in }) throws -> GroupConsumer {
        var groupConfig = ConsumerGroupConfig(groupId: group)
        groupConfig.groupInstanceId = instance
        groupConfig.sessionTimeoutMs = 6000
        groupConfig.heartbeatIntervalMs = 500
        groupConfig.maxPollIntervalMs = 20000
        groupConfig.autoCommitIntervalMs = 1000
        _ = try groupConfig.set("partition.assignment.strategy", assignor)
        configure(&groupConfig)
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 200
        return try GroupConsumer(cluster: client, config: config, groupConfig: groupConfig, listener: listener)
    }

    /// Waits (real time, bounded) until `condition` holds.
    func until(timeoutMs: Int = 20000, _ condition: () -> Bool) async -> Bool {
        await eventually(timeoutMs: timeoutMs, condition)
    }

    func stop() async {
        await client.close()
        await cluster.shutdown()
    }
}

/// Polls a group member in a background task and records every (partition, offset) it returns.
final class Collector: Sendable {
    let seen = Mutex<[TopicAndPartition: [Int64]]>([:])
    let errors = Mutex<[ClientError]>([])
    private let task = Mutex<Task<Void, Never>?>(nil)

    init(_ member: GroupConsumer) {
        let started = Task {
            while !Task.isCancelled {
                do throws(ClientError) {
                    let records = try await member.poll(timeoutMs: 100)
                    for record in try records.records() {
                        self.seen.withLock { $0[record.topicPartition, default: []].append(record.offset) }
                    }
                } catch {
                    if case .closed = error { return }
                    self.errors.withLock { $0.append(error) }
                    if !error.isRetriable { return }
                }
            }
        }
        task.withLock { $0 = started }
    }

    var count: Int { seen.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    func stop() async {
        let running = task.withLock { $0 }
        running?.cancel()
        await running?.value
    }
}
