import RivuletStorage
import RivuletWire

extension Broker {
    /// Without an authorizer every operation is allowed; these are Kafka's bit sets of the operations
    /// a topic (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS) and the
    /// cluster (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
    /// IDEMPOTENT_WRITE) support.
    static let topicAuthorizedOperations: Int32 = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11)
    static let clusterAuthorizedOperations: Int32 = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12)
    /// Kafka's "not requested" value of the authorized-operations fields.
    static let authorizedOperationsNotRequested = Int32.min

    /// Metadata: all topics when the list is null (v1+) or empty (v0); otherwise the topics asked for,
    /// by name or (v10+) by id. Unknown names are created when `auto.create.topics.enable` is on and the
    /// request allows it (always before v4), with `num.partitions` and `default.replication.factor`.
    func handleMetadata(_ request: MetadataRequest, version: Int16) async -> MetadataResponse {
        var image = metadataCache.image
        let includeTopicOperations = version >= 8 && request.includeTopicAuthorizedOperations
        let requested: [MetadataRequest.MetadataRequestTopic]? = (version == 0 && request.topics?.isEmpty == true) ? nil : request.topics
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        if let requested {
            let allowAutoCreate = config.autoCreateTopicsEnable && (version < 4 || request.allowAutoTopicCreation)
            var creationErrors: [String: KafkaApiError] = [:]
            var seenNames = Set<String>()
            var toCreate: [NewTopic] = []
            for topic in requested where topic.topicId == .zero {
                guard let name = topic.name, image.topic(named: name) == nil, seenNames.insert(name).inserted else { continue }
                if (try? TopicPartition.validateTopicName(name)) == nil || !allowAutoCreate { continue }
                toCreate.append(NewTopic(name: name))
            }
            if !toCreate.isEmpty {
                let results = await clusterControl.createTopics(toCreate, validateOnly: false)
                for (topic, result) in zip(toCreate, results) {
                    if case let .failure(error) = result, error.code != .topicAlreadyExists { creationErrors[topic.name] = error }
                }
                image = metadataCache.image
            }
            var answered = Set<String>()
            var answeredIds = Set<KafkaUUID>()
            for topic in requested {
                if topic.topicId != .zero, version >= 10 {
                    guard answeredIds.insert(topic.topicId).inserted else { continue }
                    if let found = image.topic(id: topic.topicId) {
                        topics.append(metadataTopic(found, image: image, includeOperations: includeTopicOperations))
                    } else {
                        topics.append(MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.unknownTopicId.rawValue,
                                                                             name: nil, topicId: topic.topicId))
                    }
                    continue
                }
                guard let name = topic.name else {
                    topics.append(MetadataResponse.MetadataResponseTopic(errorCode: KafkaErrorCode.invalidRequest.rawValue, name: nil))
                    continue
                }
                guard answered.insert(name).inserted else { continue }
                if let found = image.topic(named: name) {
                    topics.append(metadataTopic(found, image: image, includeOperations: includeTopicOperations))
                } else {
                    let code: KafkaErrorCode
                    if let error = creationErrors[name] {
                        code = error.code
                    } else if (try? TopicPartition.validateTopicName(name)) == nil {
                        code = .invalidTopicException
                    } else {
                        code = .unknownTopicOrPartition
                    }
                    topics.append(MetadataResponse.MetadataResponseTopic(errorCode: code.rawValue, name: name))
                }
            }
        } else {
            topics = image.topics.map { metadataTopic($0, image: image, includeOperations: includeTopicOperations) }
        }
        return MetadataResponse(
            throttleTimeMs: 0,
            brokers: image.sortedBrokers.map {
                MetadataResponse.MetadataResponseBroker(nodeId: $0.nodeId, host: $0.host, port: $0.port, rack: $0.rack)
            },
            clusterId: image.clusterId, controllerId: image.controllerId, topics: topics,
            clusterAuthorizedOperations: (version >= 8 && version <= 10 && request.includeClusterAuthorizedOperations)
                ? Self.clusterAuthorizedOperations : Self.authorizedOperationsNotRequested)
    }

    private func metadataTopic(_ topic: TopicMetadata, image: ClusterImage, includeOperations: Bool) -> MetadataResponse.MetadataResponseTopic {
        MetadataResponse.MetadataResponseTopic(
            errorCode: 0, name: topic.name, topicId: topic.topicId, isInternal: topic.isInternal,
            partitions: topic.partitions.map { partition in
                let leaderAlive = image.brokers[partition.leader] != nil
                return MetadataResponse.MetadataResponsePartition(
                    errorCode: leaderAlive ? 0 : KafkaErrorCode.leaderNotAvailable.rawValue,
                    partitionIndex: partition.partition, leaderId: leaderAlive ? partition.leader : -1,
                    leaderEpoch: partition.leaderEpoch, replicaNodes: partition.replicas, isrNodes: partition.isr,
                    offlineReplicas: partition.offlineReplicas)
            },
            topicAuthorizedOperations: includeOperations ? Self.topicAuthorizedOperations : Self.authorizedOperationsNotRequested)
    }

    /// A Metadata answer with `error` for every topic asked for.
    static func metadataErrorAnswer(_ request: MetadataRequest, _ error: KafkaApiError) -> MetadataResponse {
        MetadataResponse(topics: (request.topics ?? []).map {
            MetadataResponse.MetadataResponseTopic(errorCode: error.code.rawValue, name: $0.name, topicId: $0.topicId)
        })
    }
}
