import Logging
import RivuletCore
import RivuletStorage
import RivuletWire

/// Topic lifecycle for a single node: this broker is the controller and the only replica. Cluster
/// metadata (cluster id, topics, ids, partitions, leader epochs, configs, the producer-id counter) is
/// kept in the storage's document store, so `file://` and `mmap://` brokers restart with it.
///
/// Every change follows the same order: validate, open the new logs, make the new metadata durable,
/// publish it; a failure undoes what was opened. A crash between opening logs and persisting leaves
/// logs no topic owns; `start()` deletes them. Changes are serialized by the actor.
public actor LocalClusterControl: ClusterControl {
    private let config: BrokerConfig
    private let storage: any StorageEngine
    private let metadataCache: MetadataCache
    private let replicaManager: ReplicaManager
    private var generator: SeededGenerator
    private var nextProducerId: Int64 = 0
    private var logger: Logger { config.logger }

    /// Controls the topics of the broker configured by `config`.
    public init(config: BrokerConfig, storage: any StorageEngine, metadataCache: MetadataCache, replicaManager: ReplicaManager) {
        self.config = config
        self.storage = storage
        self.metadataCache = metadataCache
        self.replicaManager = replicaManager
        generator = SeededGenerator(seed: config.randomSeed)
    }

    /// The broker's own endpoint.
    private var localEndpoint: BrokerEndpoint {
        BrokerEndpoint(nodeId: config.nodeId, host: config.advertisedAddress.host,
                       port: Int32(clamping: config.advertisedAddress.port), rack: config.rack)
    }

    /// Loads the stored metadata (or starts a new cluster), begins a new leader epoch on every
    /// partition (this node leads them all), stores that, opens every partition's log, deletes logs
    /// that belong to no topic, and publishes the metadata.
    ///
    /// - Throws: `BrokerError.storage`, `.corruptMetadata`, `.cannotOpenPartition`.
    public func start() throws(BrokerError) {
        var document: ClusterMetadataDocument?
        do {
            if let bytes = try storage.loadDocument(named: ClusterMetadataDocument.name), !bytes.isEmpty {
                document = try ClusterMetadataDocument.decode(bytes)
            }
        } catch let error as BrokerError {
            throw error
        } catch let error as StorageError {
            throw .storage(error)
        } catch {
            throw .invalidState("\(error)")
        }
        let clusterId = document?.clusterId ?? config.clusterId ?? KafkaUUID.random(using: &generator).description
        nextProducerId = document?.nextProducerId ?? 0
        let nodeId = config.nodeId
        let topics = (document?.topics ?? []).map { topic -> TopicMetadata in
            var topic = topic
            topic.partitions = topic.partitions.map { partition in
                PartitionMetadata(partition: partition.partition, leader: nodeId, leaderEpoch: partition.leaderEpoch &+ 1,
                                  replicas: [nodeId], isr: [nodeId])
            }
            return topic
        }
        let image = ClusterImage(clusterId: clusterId, controllerId: nodeId, brokers: [nodeId: localEndpoint], topics: topics)
        do throws(StorageError) {
            try persist(image)
        } catch {
            throw .storage(error)
        }
        for topic in image.topics {
            do throws(KafkaApiError) {
                try replicaManager.openPartitions(of: topic)
            } catch {
                throw .cannotOpenPartition(topic: topic.name, reason: error.description)
            }
        }
        let owned = Set(image.topics.flatMap(\.topicPartitions))
        do {
            for orphan in try storage.partitions() where !owned.contains(orphan) {
                logger.info("deleting the log of \(orphan), which belongs to no topic")
                try storage.deleteLog(orphan)
            }
        } catch {
            logger.warning("could not delete logs that belong to no topic: \(error)")
        }
        metadataCache.publish(image)
        logger.info("broker \(nodeId) of cluster \(clusterId) started with \(image.topicsByName.count) topics")
    }

    private func persist(_ image: ClusterImage) throws(StorageError) {
        let document = ClusterMetadataDocument(clusterId: image.clusterId, nextProducerId: nextProducerId, topics: image.topics)
        try storage.storeDocument(named: ClusterMetadataDocument.name, bytes: document.encode())
    }

    private static let storageFailure = "the cluster metadata could not be stored"

    /// Stores `image`. Nil when stored; otherwise logs why and returns `results` with every success
    /// turned into KAFKA_STORAGE_ERROR (nothing was changed durably, so nothing may be reported done).
    private func persist(_ image: ClusterImage,
                         orFail results: [Result<TopicMetadata, KafkaApiError>]) -> [Result<TopicMetadata, KafkaApiError>]? {
        do {
            try persist(image)
            return nil
        } catch {
            logger.error("\(Self.storageFailure): \(error)")
            let failure = KafkaApiError(.kafkaStorageError, "\(Self.storageFailure): \(error)")
            return results.map { result in
                if case .success = result { return .failure(failure) }
                return result
            }
        }
    }

    // MARK: Topics

    public func createTopics(_ topics: [NewTopic], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var image = metadataCache.image
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var created: [TopicMetadata] = []
        for topic in topics {
            do throws(KafkaApiError) {
                let metadata = try newTopicMetadata(topic, in: image)
                if !validateOnly {
                    try replicaManager.openPartitions(of: metadata)
                    image.put(metadata)
                    created.append(metadata)
                }
                results.append(.success(metadata))
            } catch {
                results.append(.failure(error))
            }
        }
        guard !created.isEmpty else { return results }
        // Every success was created (validateOnly creates nothing and returned above).
        if let failed = persist(image, orFail: results) {
            replicaManager.stopPartitions(created.flatMap(\.topicPartitions), deleteLogs: true)
            return failed
        }
        metadataCache.publish(image)
        for topic in created {
            logger.info("created topic \(topic.name) (\(topic.topicId)) with \(topic.partitions.count) partitions")
        }
        return results
    }

    /// Validates a new topic against the image and builds its metadata (ids, replica assignment).
    private func newTopicMetadata(_ topic: NewTopic, in image: ClusterImage) throws(KafkaApiError) -> TopicMetadata {
        let brokers = image.sortedBrokers.map(\.nodeId)
        let replicaLists: [[Int32]]
        switch try NewTopicValidation.validate(topic, in: image, brokerIds: brokers, config: config) {
        case let .assigned(lists):
            replicaLists = lists
        case let .placed(count, replicationFactor):
            replicaLists = Self.assignReplicas(partitions: 0 ..< count, replicationFactor: Int(replicationFactor), brokers: brokers)
        }
        let topicConfig = try TopicConfig(validating: topic.configs.map { ($0.name, $0.value) })
        let topicId = NewTopicValidation.newTopicId(in: image, using: &generator)
        let partitions = replicaLists.enumerated().map { index, replicas in
            PartitionMetadata(partition: Int32(index), leader: replicas.first ?? -1, leaderEpoch: 0, replicas: replicas, isr: replicas)
        }
        return TopicMetadata(name: topic.name, topicId: topicId, isInternal: NewTopicValidation.internalTopics.contains(topic.name),
                             partitions: partitions, config: topicConfig)
    }

    /// Round-robin placement: partition p's replicas are the brokers from position p on, wrapping.
    /// (Rack awareness comes with replication.)
    static func assignReplicas(partitions: Range<Int32>, replicationFactor: Int, brokers: [Int32]) -> [[Int32]] {
        guard !brokers.isEmpty else { return partitions.map { _ in [] } }
        return partitions.map { partition in
            (0 ..< replicationFactor).map { brokers[(Int(partition) + $0) % brokers.count] }
        }
    }

    public func deleteTopics(_ topics: [TopicReference]) async -> [Result<TopicMetadata, KafkaApiError>] {
        guard config.deleteTopicEnable else {
            return topics.map { _ in .failure(KafkaApiError(.topicDeletionDisabled, "Topic deletion is disabled.")) }
        }
        var image = metadataCache.image
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var deleted: [TopicMetadata] = []
        for reference in topics {
            switch reference {
            case let .name(name):
                if let topic = image.remove(topic: name) {
                    deleted.append(topic)
                    results.append(.success(topic))
                } else {
                    results.append(.failure(KafkaApiError(.unknownTopicOrPartition, "This server does not host this topic: \(name)")))
                }
            case let .id(topicId):
                if let topic = image.topic(id: topicId) {
                    image.remove(topic: topic.name)
                    deleted.append(topic)
                    results.append(.success(topic))
                } else {
                    results.append(.failure(KafkaApiError(.unknownTopicId, "This server does not host topic id \(topicId)")))
                }
            }
        }
        guard !deleted.isEmpty else { return results }
        if let failed = persist(image, orFail: results) { return failed }
        metadataCache.publish(image)
        replicaManager.stopPartitions(deleted.flatMap(\.topicPartitions), deleteLogs: true)
        for topic in deleted { logger.info("deleted topic \(topic.name) (\(topic.topicId))") }
        return results
    }

    public func createPartitions(_ increases: [PartitionIncrease], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var image = metadataCache.image
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var added: [TopicPartition] = []
        var changed: [String] = []
        for increase in increases {
            do throws(KafkaApiError) {
                guard let topic = image.topic(named: increase.topic) else {
                    throw KafkaApiError(.unknownTopicOrPartition, "The topic '\(increase.topic)' does not exist.")
                }
                let current = Int32(topic.partitions.count)
                guard increase.totalCount >= current else {
                    throw KafkaApiError(.invalidPartitions,
                                        "Topic currently has \(current) partitions, which is higher than the requested \(increase.totalCount).")
                }
                guard increase.totalCount > current else {
                    throw KafkaApiError(.invalidPartitions, "Topic already has \(current) partitions.")
                }
                guard increase.totalCount <= config.topicPartitionsMax else {
                    throw KafkaApiError(.invalidPartitions,
                                        "Number of partitions \(increase.totalCount) is more than the \(config.topicPartitionsMax) allowed per topic")
                }
                let brokers = image.sortedBrokers.map(\.nodeId)
                let replicationFactor = topic.partitions.first?.replicas.count ?? Int(config.defaultReplicationFactor)
                let newNumbers = current ..< increase.totalCount
                var replicaLists: [[Int32]]
                if let assignments = increase.assignments {
                    guard assignments.count == newNumbers.count else {
                        throw KafkaApiError(.invalidReplicaAssignment,
                                            "Increasing the number of partitions by \(newNumbers.count) but \(assignments.count) assignments provided.")
                    }
                    for (offset, replicas) in assignments.enumerated() {
                        try NewTopicValidation.checkReplicas(replicas, brokers: brokers, partition: current + Int32(offset))
                        guard replicas.count == replicationFactor else {
                            throw KafkaApiError(.invalidReplicaAssignment, "Inconsistent replication factor between partitions")
                        }
                    }
                    replicaLists = assignments
                } else {
                    guard replicationFactor <= brokers.count else {
                        throw KafkaApiError(.invalidReplicationFactor,
                                            "The replication factor \(replicationFactor) cannot be reached with \(brokers.count) broker(s).")
                    }
                    replicaLists = Self.assignReplicas(partitions: newNumbers, replicationFactor: replicationFactor, brokers: brokers)
                }
                var updated = topic
                for (offset, replicas) in replicaLists.enumerated() {
                    updated.partitions.append(PartitionMetadata(partition: current + Int32(offset), leader: replicas.first ?? -1,
                                                                leaderEpoch: 0, replicas: replicas, isr: replicas))
                }
                if !validateOnly {
                    try replicaManager.openPartitions(of: updated, only: Set(newNumbers))
                    added.append(contentsOf: newNumbers.map { TopicPartition(topic: topic.name, partition: $0) })
                    image.put(updated)
                    changed.append(topic.name)
                }
                results.append(.success(updated))
            } catch {
                results.append(.failure(error))
            }
        }
        guard !changed.isEmpty else { return results }
        if let failed = persist(image, orFail: results) {
            replicaManager.stopPartitions(added, deleteLogs: true)
            return failed
        }
        metadataCache.publish(image)
        return results
    }

    public func alterTopicConfigs(_ changes: [TopicConfigChange], validateOnly: Bool) async -> [Result<TopicMetadata, KafkaApiError>] {
        var image = metadataCache.image
        var results: [Result<TopicMetadata, KafkaApiError>] = []
        var changed: [TopicMetadata] = []
        for change in changes {
            do throws(KafkaApiError) {
                guard var topic = image.topic(named: change.topic) else {
                    throw KafkaApiError(.unknownTopicOrPartition, "The topic '\(change.topic)' does not exist.")
                }
                topic.config = try TopicConfig(validating: change.configs.map { ($0.name, $0.value) })
                if !validateOnly {
                    image.put(topic)
                    changed.append(topic)
                }
                results.append(.success(topic))
            } catch {
                results.append(.failure(error))
            }
        }
        guard !changed.isEmpty else { return results }
        if let failed = persist(image, orFail: results) { return failed }
        metadataCache.publish(image)
        var failures: [String: KafkaApiError] = [:]
        for topic in changed {
            do throws(KafkaApiError) {
                try replicaManager.reconfigure(topic: topic)
            } catch {
                logger.error("applying the new configs of \(topic.name) failed: \(error)")
                failures[topic.name] = error
            }
        }
        return results.map { result in
            if case let .success(topic) = result, let failure = failures[topic.name] { return .failure(failure) }
            return result
        }
    }

    // MARK: Producer ids

    public func allocateProducerIds() async throws(KafkaApiError) -> ProducerIdBlock {
        let size = config.producerIdBlockSize
        guard nextProducerId <= Int64.max - size else {
            throw KafkaApiError(.unknownServerError, "Producer ids are exhausted")
        }
        let block = ProducerIdBlock(firstProducerId: nextProducerId, size: size)
        nextProducerId = block.nextBlockFirstId
        do {
            try persist(metadataCache.image)
        } catch {
            nextProducerId = block.firstProducerId
            throw KafkaApiError(.kafkaStorageError, "The producer id counter could not be stored: \(error)")
        }
        return block
    }
}
