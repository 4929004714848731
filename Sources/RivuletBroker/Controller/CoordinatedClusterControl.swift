import Logging
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletWire

/// Topic lifecycle in a coordinated cluster, on any broker (Kafka's ZooKeeper-mode admin path).
///
/// The broker that receives CreateTopics, DeleteTopics, CreatePartitions or AlterConfigs validates the
/// request and writes the topic's znode (`/brokers/topics/<topic>`: id, replica assignment from
/// `ReplicaPlacement` over the registered brokers, config overrides), conditionally on its version,
/// then bumps `/rivulet/metadata_change`. The controller acts on it: it creates the partition state
/// nodes (leaders, ISR) for new partitions. Brokers apply the result when their watches fire. The call
/// returns once this broker's metadata shows the change (new partitions with a leader, deleted topics
/// gone), or after `request.timeout`-like bound of 5 s (then clients see LEADER_NOT_AVAILABLE for a
/// moment and retry, as with Kafka). Producer-id blocks come from `/latest_producer_id_block`
/// (conditional updates, so no two brokers get the same block).
public actor CoordinatedClusterControl: ClusterControl {
    private let config: BrokerConfig
    private let metadataCache: MetadataCache
    private let membership: ClusterMembership
    private var generator: SeededGenerator
    private var logger: Logger { config.logger }
    /// How long a change waits to show in this broker's metadata.
    private let propagationTimeoutMs: Int64 = 5000

    init(config: BrokerConfig, metadataCache: MetadataCache, membership: ClusterMembership) {
        self.config = config
        self.metadataCache = metadataCache
        self.membership = membership
        generator = SeededGenerator(seed: config.randomSeed &+ 0x5EED)
    }

    private func session() throws(KafkaApiError) -> any Coordinator {
        guard let session = membership.session, session.state == .connected else {
            throw KafkaApiError(.notController, "This broker has no coordination session; retry")
        }
        return session
    }

    private static func failure(_ error: any Error) -> KafkaApiError {
        if let error = error as? KafkaApiError { return error }
        return KafkaApiError(.kafkaStorageError, "The cluster state could not be changed: \(error)")
    }

    /// Waits (bounded) until this broker's metadata satisfies `condition`.
    private func awaitMetadata(_ condition: (ClusterImage) -> Bool) async {
        let deadline = config.clock.monotonicMilliseconds() + propagationTimeoutMs
        while !condition(metadataCache.image), config.clock.monotonicMilliseconds() < deadline {
            try? await config.clock.sleep(nanoseconds: 5_000_000)
        }
    }

    // MARK: Topics

    public func createTopics(_ topics: [NewTopic], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var created: [String] = []
        for topic in topics {
            do {
                let image = metadataCache.image
                let metadata = try newTopicMetadata(topic, in: image)
                if !validateOnly {
                    let session = try session()
                    let assignment = TopicAssignment(name: metadata.name, topicId: metadata.topicId, isInternal: metadata.isInternal,
                                                     replicas: metadata.partitions.map(\.replicas), configs: metadata.config.overrides)
                    do {
                        try await session.create(ClusterZNodes.topic(metadata.name), data: assignment.data)
                    } catch CoordinatorError.nodeExists {
                        throw KafkaApiError(.topicAlreadyExists, "Topic '\(metadata.name)' already exists.")
                    }
                    created.append(metadata.name)
                    logger.info("created topic \(metadata.name) (\(metadata.topicId)) with assignment \(assignment.replicas)")
                }
                results.append(.success(metadata))
            } catch {
                results.append(.failure(Self.failure(error)))
            }
        }
        guard !created.isEmpty else { return results }
        await bump()
        await awaitMetadata { image in
            created.allSatisfy { name in image.topic(named: name)?.partitions.allSatisfy { $0.leader >= 0 } ?? false }
        }
        let image = metadataCache.image
        return results.map { result in
            if case let .success(topic) = result, let current = image.topic(named: topic.name), current.topicId == topic.topicId {
                return .success(current)
            }
            return result
        }
    }

    private func bump() async {
        do {
            try await KafkaController.bumpMetadataChange(try session())
        } catch {
            logger.warning("could not signal a metadata change: \(error)")
        }
    }

    private func newTopicMetadata(_ topic: NewTopic, in image: ClusterImage) throws(KafkaApiError) -> TopicMetadata {
        let brokers = image.sortedBrokers
        let replicaLists: [[Int32]]
        switch try NewTopicValidation.validate(topic, in: image, brokerIds: brokers.map(\.nodeId), config: config) {
        case let .assigned(lists):
            replicaLists = lists
        case let .placed(count, replicationFactor):
            do throws(ReplicaPlacement.Failure) {
                replicaLists = try ReplicaPlacement.assign(partitions: Int(count), replicationFactor: Int(replicationFactor),
                                                           brokers: brokers, generator: &generator)
            } catch {
                throw KafkaApiError(.invalidReplicationFactor, "\(error)")
            }
        }
        let topicConfig = try TopicConfig(validating: topic.configs.map { ($0.name, $0.value) })
        let topicId = NewTopicValidation.newTopicId(in: image, using: &generator)
        let partitions = replicaLists.enumerated().map { index, replicas in
            PartitionMetadata(partition: Int32(index), leader: -1, leaderEpoch: -1, replicas: replicas, isr: [], partitionEpoch: -1)
        }
        return TopicMetadata(name: topic.name, topicId: topicId, isInternal: NewTopicValidation.internalTopics.contains(topic.name),
                             partitions: partitions, config: topicConfig)
    }

    public func deleteTopics(_ topics: [TopicReference]) async -> [Result<TopicMetadata, KafkaApiError>] {
        guard config.deleteTopicEnable else {
            return topics.map { _ in .failure(KafkaApiError(.topicDeletionDisabled, "Topic deletion is disabled.")) }
        }
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var deleted: [String] = []
        for reference in topics {
            let image = metadataCache.image
            let topic: TopicMetadata
            switch reference {
            case let .name(name):
                guard let found = image.topic(named: name) else {
                    results.append(.failure(KafkaApiError(.unknownTopicOrPartition, "This server does not host this topic: \(name)")))
                    continue
                }
                topic = found
            case let .id(topicId):
                guard let found = image.topic(id: topicId) else {
                    results.append(.failure(KafkaApiError(.unknownTopicId, "This server does not host topic id \(topicId)")))
                    continue
                }
                topic = found
            }
            do {
                let session = try session()
                guard try await session.deleteRecursively(ClusterZNodes.topic(topic.name)) else {
                    throw KafkaApiError(.unknownTopicOrPartition, "This server does not host this topic: \(topic.name)")
                }
                deleted.append(topic.name)
                results.append(.success(topic))
                logger.info("deleted topic \(topic.name) (\(topic.topicId))")
            } catch {
                results.append(.failure(Self.failure(error)))
            }
        }
        guard !deleted.isEmpty else { return results }
        await bump()
        await awaitMetadata { image in deleted.allSatisfy { image.topic(named: $0) == nil } }
        return results
    }

    public func createPartitions(_ increases: [PartitionIncrease], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var changed: [(String, Int)] = []
        for increase in increases {
            do {
                let image = metadataCache.image
                guard let topic = image.topic(named: increase.topic) else {
                    throw KafkaApiError(.unknownTopicOrPartition, "The topic '\(increase.topic)' does not exist.")
                }
                let session = try session()
                let path = ClusterZNodes.topic(increase.topic)
                let node = try await session.getData(path)
                var assignment = try TopicAssignment(name: increase.topic, data: node.data)
                let current = assignment.replicas.count
                guard Int(increase.totalCount) >= current else {
                    throw KafkaApiError(.invalidPartitions,
                                        "Topic currently has \(current) partitions, which is higher than the requested \(increase.totalCount).")
                }
                guard Int(increase.totalCount) > current else {
                    throw KafkaApiError(.invalidPartitions, "Topic already has \(current) partitions.")
                }
                guard increase.totalCount <= config.topicPartitionsMax else {
                    throw KafkaApiError(.invalidPartitions,
                                        "Number of partitions \(increase.totalCount) is more than the \(config.topicPartitionsMax) allowed per topic")
                }
                let brokers = image.sortedBrokers
                let replicationFactor = assignment.replicas.first?.count ?? Int(config.defaultReplicationFactor)
                let newCount = Int(increase.totalCount) - current
                var lists: [[Int32]]
                if let assignments = increase.assignments {
                    guard assignments.count == newCount else {
                        throw KafkaApiError(.invalidReplicaAssignment,
                                            "Increasing the number of partitions by \(newCount) but \(assignments.count) assignments provided.")
                    }
                    for (offset, replicas) in assignments.enumerated() {
                        try NewTopicValidation.checkReplicas(replicas, brokers: brokers.map(\.nodeId), partition: Int32(current + offset))
                        guard replicas.count == replicationFactor else {
                            throw KafkaApiError(.invalidReplicaAssignment, "Inconsistent replication factor between partitions")
                        }
                    }
                    lists = assignments
                } else {
                    do throws(ReplicaPlacement.Failure) {
                        lists = try ReplicaPlacement.assign(partitions: newCount, replicationFactor: replicationFactor, brokers: brokers,
                                                            firstPartition: current, generator: &generator)
                    } catch {
                        throw KafkaApiError(.invalidReplicationFactor,
                                            "The replication factor \(replicationFactor) cannot be reached with \(brokers.count) broker(s).")
                    }
                }
                assignment.replicas += lists
                var updated = topic
                for (offset, replicas) in lists.enumerated() {
                    updated.partitions.append(PartitionMetadata(partition: Int32(current + offset), leader: -1, leaderEpoch: -1,
                                                                replicas: replicas, isr: [], partitionEpoch: -1))
                }
                if !validateOnly {
                    do {
                        _ = try await session.setData(path, data: assignment.data, version: node.stat.version)
                    } catch CoordinatorError.badVersion {
                        throw KafkaApiError(.reassignmentInProgress, "The topic '\(increase.topic)' changed concurrently; retry")
                    }
                    changed.append((increase.topic, Int(increase.totalCount)))
                }
                results.append(.success(updated))
            } catch {
                results.append(.failure(Self.failure(error)))
            }
        }
        guard !changed.isEmpty else { return results }
        await bump()
        await awaitMetadata { image in
            changed.allSatisfy { name, count in
                guard let topic = image.topic(named: name) else { return false }
                return topic.partitions.count == count && topic.partitions.allSatisfy { $0.leader >= 0 }
            }
        }
        let image = metadataCache.image
        return results.map { result in
            if case let .success(topic) = result, let current = image.topic(named: topic.name),
               current.partitions.count == topic.partitions.count { return .success(current) }
            return result
        }
    }

    public func alterTopicConfigs(_ changes: [TopicConfigChange], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var changedAny = false
        for change in changes {
            do {
                guard var topic = metadataCache.image.topic(named: change.topic) else {
                    throw KafkaApiError(.unknownTopicOrPartition, "The topic '\(change.topic)' does not exist.")
                }
                topic.config = try TopicConfig(validating: change.configs.map { ($0.name, $0.value) })
                if !validateOnly {
                    let session = try session()
                    let path = ClusterZNodes.topic(change.topic)
                    let node = try await session.getData(path)
                    var assignment = try TopicAssignment(name: change.topic, data: node.data)
                    assignment.configs = topic.config.overrides
                    do {
                        _ = try await session.setData(path, data: assignment.data, version: node.stat.version)
                    } catch CoordinatorError.badVersion {
                        throw KafkaApiError(.reassignmentInProgress, "The topic '\(change.topic)' changed concurrently; retry")
                    }
                    changedAny = true
                }
                results.append(.success(topic))
            } catch {
                results.append(.failure(Self.failure(error)))
            }
        }
        if changedAny {
            await bump()
            let wanted = results.compactMap { try? $0.get() }
            await awaitMetadata { image in wanted.allSatisfy { image.topic(named: $0.name)?.config == $0.config } }
        }
        return results
    }

    // MARK: Producer ids

    public func allocateProducerIds() async throws(KafkaApiError) -> ProducerIdBlock {
        let size = config.producerIdBlockSize
        for _ in 0 ..< 16 {
            do {
                let session = try session()
                let path = ClusterZNodes.producerIdBlock
                var fields = ZNodeFields()
                do {
                    let node = try await session.getData(path)
                    let stored = try ZNodeFields(decoding: node.data, path: path)
                    let next = try stored.int64("first", path: path) + (try stored.int64("size", path: path))
                    guard next <= Int64.max - size else { throw KafkaApiError(.unknownServerError, "Producer ids are exhausted") }
                    fields["first"] = String(next)
                    fields["size"] = String(size)
                    _ = try await session.setData(path, data: fields.bytes, version: node.stat.version)
                    return ProducerIdBlock(firstProducerId: next, size: size)
                } catch CoordinatorError.noNode {
                    fields["first"] = "0"
                    fields["size"] = String(size)
                    try await session.createRecursively(path, data: fields.bytes)
                    return ProducerIdBlock(firstProducerId: 0, size: size)
                }
            } catch CoordinatorError.badVersion {
                continue
            } catch CoordinatorError.nodeExists {
                continue
            } catch let error as KafkaApiError {
                throw error
            } catch {
                throw KafkaApiError(.kafkaStorageError, "The producer id block could not be reserved: \(error)")
            }
        }
        throw KafkaApiError(.kafkaStorageError, "The producer id block kept changing concurrently; retry")
    }
}
