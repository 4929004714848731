import RivuletWire

extension Broker {
    /// CreateTopics (v0-7): a name listed twice is INVALID_REQUEST for each of its entries; the rest go to
    /// `ClusterControl`. v5+ answers carry the partition count, replication factor and every config
    /// in effect; v7+ the new topic's id (zero with `validateOnly`).
    func handleCreateTopics(_ request: CreateTopicsRequest, version: Int16) async -> CreateTopicsResponse {
        var counts: [String: Int] = [:]
        for topic in request.topics { counts[topic.name, default: 0] += 1 }
        var toCreate: [NewTopic] = []
        var slots: [Int] = []
        var results = [CreateTopicsResponse.CreatableTopicResult]()
        results.reserveCapacity(request.topics.count)
        for topic in request.topics {
            if counts[topic.name, default: 0] > 1 {
                results.append(Self.createTopicError(topic.name, KafkaApiError(.invalidRequest,
                    "Create topics request from client contains multiple entries for the following topics: \(topic.name)")))
                continue
            }
            var assignments: [Int32: [Int32]] = [:]
            var duplicatePartition: Int32?
            for assignment in topic.assignments {
                if assignments.updateValue(assignment.brokerIds, forKey: assignment.partitionIndex) != nil {
                    duplicatePartition = assignment.partitionIndex
                }
            }
            if let duplicatePartition {
                results.append(Self.createTopicError(topic.name, KafkaApiError(.invalidReplicaAssignment,
                    "Partition \(duplicatePartition) is assigned more than once")))
                continue
            }
            slots.append(results.count)
            results.append(CreateTopicsResponse.CreatableTopicResult(name: topic.name))
            toCreate.append(NewTopic(name: topic.name, numPartitions: topic.numPartitions,
                                     replicationFactor: topic.replicationFactor, assignments: assignments,
                                     configs: topic.configs.map { ConfigOverride(name: $0.name, value: $0.value) }))
        }
        if !toCreate.isEmpty {
            let outcomes = await clusterControl.createTopics(toCreate, validateOnly: request.validateOnly)
            for (slot, (topic, outcome)) in zip(slots, zip(toCreate, outcomes)) {
                switch outcome {
                case let .success(created):
                    results[slot] = CreateTopicsResponse.CreatableTopicResult(
                        name: created.name, topicId: request.validateOnly ? .zero : created.topicId, errorCode: 0,
                        errorMessage: nil, numPartitions: Int32(created.partitions.count),
                        replicationFactor: Int16(clamping: created.partitions.first?.replicas.count ?? 0),
                        configs: created.config.entries(broker: config).map {
                            CreateTopicsResponse.CreatableTopicConfigs(name: $0.name, value: $0.value, readOnly: false,
                                                                       configSource: $0.source.rawValue, isSensitive: false)
                        })
                case let .failure(error):
                    results[slot] = Self.createTopicError(topic.name, error)
                }
            }
        }
        return CreateTopicsResponse(throttleTimeMs: 0, topics: results)
    }

    static func createTopicError(_ name: String, _ error: KafkaApiError) -> CreateTopicsResponse.CreatableTopicResult {
        CreateTopicsResponse.CreatableTopicResult(name: name, errorCode: error.code.rawValue, errorMessage: error.message,
                                                  numPartitions: -1, replicationFactor: -1, configs: [])
    }

    /// A CreateTopics answer with `error` for every topic.
    static func createTopicsErrorAnswer(_ request: CreateTopicsRequest, _ error: KafkaApiError) -> CreateTopicsResponse {
        CreateTopicsResponse(topics: request.topics.map { createTopicError($0.name, error) })
    }
}
