import Foundation
import Logging
import NIOCore
import RivuletBroker
import RivuletClient
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Testing

/// A coordinated in-process cluster for replication tests: fast timings (500 ms sessions, short lag
/// and backoff times), a private in-memory ensemble, and a Swift client on the in-process network.
final class ReplicatedClusterFixture: @unchecked Sendable {
    let cluster: EmbeddedCluster
    let client: ClusterClient

    static let sessionTimeoutMs = 500

    private init(cluster: EmbeddedCluster, client: ClusterClient) {
        self.cluster = cluster
        self.client = client
    }

    static func start(brokers: Int = 3, racks: [String]? = nil, seed: UInt64 = 42, sessionTimeoutMs: Int = sessionTimeoutMs,
                      replicaLagTimeMaxMs: Int64 = 1000, minInsyncReplicas: Int32 = 1,
                      coordinator: EmbeddedCluster.CoordinatorChoice = .automatic,
                      customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in }) async throws -> ReplicatedClusterFixture {
        var logger = Logger(label: "replication-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["RIVULET_TEST_LOG"] == nil ? .critical : .info
        var configuration = EmbeddedCluster.Configuration(
            brokerCount: brokers, storageURL: "memory://", randomSeed: seed,
            customize: { config in
                config.logRetentionCheckIntervalMs = 3_600_000
                config.replicaLagTimeMaxMs = replicaLagTimeMaxMs
                config.replicaFetchBackoffMs = 20
                config.replicaFetchWaitMaxMs = 100
                config.minInsyncReplicas = minInsyncReplicas
                config.metadataRefreshIntervalMs = 1000
                customize(&config)
            },
            logger: logger,
            groupCoordinator: { _ in nil })
        configuration.sessionTimeoutMs = sessionTimeoutMs
        configuration.coordinator = coordinator
        if let racks { configuration.rack = { racks[Int($0) % racks.count] } }
        let cluster = try EmbeddedCluster(configuration)
        try await cluster.start()
        var clientConfig = ClientConfig(bootstrapServers: cluster.bootstrapAddresses)
        clientConfig.retryBackoffMs = 10
        clientConfig.retryBackoffMaxMs = 50
        clientConfig.reconnectBackoffMs = 10
        clientConfig.reconnectBackoffMaxMs = 50
        clientConfig.requestTimeoutMs = 3000
        return ReplicatedClusterFixture(cluster: cluster, client: ClusterClient(config: clientConfig, transport: cluster.transport))
    }

    var admin: Admin { Admin(cluster: client) }

    /// Creates a topic and waits until every partition has a leader and a full ISR.
    func createTopic(_ name: String, partitions: Int32 = 1, replicationFactor: Int16 = 3, configs: [String: String] = [:]) async throws {
        let result = try await admin.createTopic(RivuletClient.NewTopic(name: name, partitions: partitions,
                                                                         replicationFactor: replicationFactor, configs: configs))
        #expect(result.error == nil, "creating \(name): \(String(describing: result.error))")
        for partition in 0 ..< partitions {
            _ = await cluster.waitForLeader(of: name, partition: partition)
        }
        #expect(await cluster.waitForFullIsr(of: name), "the ISR of \(name) never became complete")
    }

    func producer(acks: Acks, idempotent: Bool = false, deliveryTimeoutMs: Int64 = 20_000) throws -> Producer {
        var config = ProducerConfig()
        config.acks = acks
        config.lingerMs = 0
        config.enableIdempotence = idempotent
        config.deliveryTimeoutMs = deliveryTimeoutMs
        return try Producer(cluster: client, config: config)
    }

    /// The partition replica on broker `nodeId`.
    func replica(_ topic: String, _ partition: Int32 = 0, on nodeId: Int32) -> Partition? {
        cluster.broker(nodeId)?.replicaManager.partition(TopicPartition(topic: topic, partition: partition))
    }

    /// Reads every committed record of `topic` from the current leaders: (partition, offset, value).
    func readAll(_ topic: String, partitions: Int32 = 1, timeoutMs: Int64 = 10_000) async throws -> [(Int32, Int64, Int64)] {
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 50
        let consumer = try Consumer(cluster: client, config: config)
        defer { Task { await consumer.close() } }
        let assigned = (0 ..< partitions).map { TopicAndPartition(topic: topic, partition: $0) }
        consumer.assign(assigned)
        try consumer.seekToBeginning(assigned)
        let ends = try await consumer.endOffsets(assigned)
        var read: [(Int32, Int64, Int64)] = []
        var positions: [Int32: Int64] = [:]
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        while ContinuousClock.now < deadline {
            if assigned.allSatisfy({ (positions[$0.partition] ?? 0) >= (ends[$0] ?? 0) }) { break }
            let records = try await consumer.poll(timeoutMs: 100)
            try records.forEach { record in
                read.append((record.partition, record.offset, Self.decode(record.value)))
                positions[record.partition] = record.offset + 1
            }
        }
        return read
    }

    static func encode(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    static func decode(_ buffer: ByteBuffer?) -> Int64 {
        guard var buffer, let value = buffer.readInteger(as: Int64.self) else { return -1 }
        return value
    }

    func stop() async {
        await client.close()
        await cluster.shutdown()
    }
}

/// Polls `condition` every 5 ms for at most `timeoutMs`; returns whether it held.
func holdsEventually(timeoutMs: Int64 = 5000, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return await condition()
}
