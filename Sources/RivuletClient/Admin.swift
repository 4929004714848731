import RivuletCore
import RivuletTransport
import RivuletWire

/// A topic to create.
public struct NewTopic: Hashable, Sendable {
    /// The topic name.
    public var name: String
    /// The number of partitions; -1 takes the broker's `num.partitions`.
    public var partitions: Int32
    /// The replication factor; -1 takes the broker's `default.replication.factor`.
    public var replicationFactor: Int16
    /// Topic configs (`retention.ms`, `segment.bytes`, `cleanup.policy`...), Kafka's names.
    public var configs: [String: String]

    public init(name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// What happened to one topic of a create or delete call.
public struct TopicResult: Hashable, Sendable {
    /// The topic name.
    public var name: String
    /// Nil on success, else why this topic failed (other topics of the call are unaffected).
    public var error: ClientError?
    /// The topic id, when the broker reports it (CreateTopics v7+).
    public var topicId: KafkaUUID
    /// The partitions the topic got (CreateTopics v5+), or -1.
    public var partitions: Int32
    /// The replication factor it got (CreateTopics v5+), or -1.
    public var replicationFactor: Int16
}

/// Which offset `listOffsets` looks up.
public enum OffsetSpec: Hashable, Sendable {
    /// The log start offset (timestamp -2).
    case earliest
    /// The log end offset, or the high watermark for consumers (timestamp -1).
    case latest
    /// The offset of the record with the largest timestamp (-3, ListOffsets v7+).
    case maxTimestamp
    /// The first offset whose timestamp is at least this many ms since the epoch.
    case timestamp(Int64)

    /// The ListOffsets timestamp encoding.
    var timestamp: Int64 {
        switch self {
        case .earliest: -2
        case .latest: -1
        case .maxTimestamp: -3
        case let .timestamp(milliseconds): milliseconds
        }
    }
}

/// One answer of `listOffsets`.
public struct ListedOffset: Hashable, Sendable {
    /// The offset (-1 when no record matches a timestamp lookup).
    public var offset: Int64
    /// The timestamp of that record, or -1.
    public var timestampMs: Int64
    /// The leader epoch of that record, or -1.
    public var leaderEpoch: Int32
}

/// A config resource: a topic or a broker.
public enum ConfigResource: Hashable, Sendable {
    /// A topic's configs (resource type 2).
    case topic(String)
    /// A broker's configs (resource type 4), by node id.
    case broker(Int32)

    var type: Int8 {
        switch self {
        case .topic: 2
        case .broker: 4
        }
    }

    var name: String {
        switch self {
        case let .topic(name): name
        case let .broker(id): String(id)
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
public enum ConfigSource: Int8, Hashable, Sendable {
    case unknown = 0
    case dynamicTopicConfig = 1
    case dynamicBrokerLoggerConfig = 2
    case dynamicBrokerConfig = 3
    case dynamicDefaultBrokerConfig = 4
    case staticBrokerConfig = 5
    case defaultConfig = 6
    case dynamicClientMetricsConfig = 7
    case dynamicGroupConfig = 8
}

/// One config of a described resource.
public struct ConfigEntry: Hashable, Sendable {
    /// Kafka's name (`retention.ms`).
    public var name: String
    /// The value, nil when sensitive or unset.
    public var value: String?
    /// Where the value comes from.
    public var source: ConfigSource
    /// Whether it cannot be altered.
    public var isReadOnly: Bool
    /// Whether the value is hidden.
    public var isSensitive: Bool
    /// Whether the value is the default (source `defaultConfig`, or v0's flag).
    public var isDefault: Bool
}

/// A description of the cluster (DescribeCluster, or Metadata on brokers without it).
public struct ClusterDescription: Hashable, Sendable {
    /// The cluster id.
    public var clusterId: String?
    /// The controller's node id, or -1.
    public var controllerId: Int32
    /// The brokers, by node id.
    public var brokers: [BrokerNode]
}

/// Kafka's admin operations over any `Transport`: topics, partitions, offsets, configs, records.
///
/// Topic lifecycle calls go to the controller (any broker on a single node) and are retried on
/// NOT_CONTROLLER and connection errors until `default.api.timeout.ms`. Per-topic or per-partition
/// failures are reported per item; a call throws only when it could not run at all.
/// Thread-safe.
public final class Admin: Sendable {
    /// The cluster this admin client talks to.
    public let cluster: ClusterClient
    private let ownsCluster: Bool

    /// An admin client over a shared cluster client (closing the admin leaves it open).
    public init(cluster: ClusterClient) {
        self.cluster = cluster
        ownsCluster = false
    }

    /// An admin client with its own cluster client.
    public init(config: ClientConfig, transport: any Transport) {
        cluster = ClusterClient(config: config, transport: transport)
        ownsCluster = true
    }

    private var timeoutMs: Int64 { cluster.config.defaultApiTimeoutMs }

    // MARK: Topics

    /// Creates topics. Each result says whether that topic was created.
    ///
    /// - Parameter validateOnly: check the request without creating anything.
    /// - Throws: `ClientError` when no broker answered.
    public func createTopics(_ topics: [NewTopic], validateOnly: Bool = false) async throws(ClientError) -> [TopicResult] {
        let request = CreateTopicsRequest(
            topics: topics.map { topic in
                CreateTopicsRequest.CreatableTopic(
                    name: topic.name, numPartitions: topic.partitions, replicationFactor: topic.replicationFactor,
                    configs: topic.configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
            },
            timeoutMs: Int32(clamping: timeoutMs), validateOnly: validateOnly)
        let response = try await sendToController(request) { response in
            response.topics.contains { $0.errorCode == KafkaErrorCode.notController.rawValue }
        }
        defer { cluster.requestMetadataRefresh() }
        return response.topics.map { topic in
            TopicResult(name: topic.name,
                        error: topic.errorCode == 0 ? nil
                            : .broker(errorCode: topic.errorCode, topic: topic.name, partition: nil, message: topic.errorMessage),
                        topicId: topic.topicId, partitions: topic.numPartitions, replicationFactor: topic.replicationFactor)
        }
    }

    /// Creates one topic, throwing its error (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS...).
    public func createTopic(_ topic: NewTopic) async throws(ClientError) -> TopicResult {
        let results = try await createTopics([topic])
        guard let result = results.first(where: { $0.name == topic.name }) else {
            throw .broker(errorCode: KafkaErrorCode.unknownServerError.rawValue, topic: topic.name, partition: nil,
                          message: "the broker's answer did not mention the topic")
        }
        if let error = result.error { throw error }
        return result
    }

    /// Deletes topics by name. Each result says whether that topic was deleted.
    public func deleteTopics(_ names: [String]) async throws(ClientError) -> [TopicResult] {
        let request = DeleteTopicsRequest(topics: names.map { .init(name: $0) }, topicNames: names,
                                          timeoutMs: Int32(clamping: timeoutMs))
        let response = try await sendToController(request) { response in
            response.responses.contains { $0.errorCode == KafkaErrorCode.notController.rawValue }
        }
        defer { cluster.requestMetadataRefresh() }
        return response.responses.map { topic in
            let name = topic.name ?? cluster.metadata.topic(id: topic.topicId)?.name ?? topic.topicId.description
            return TopicResult(name: name,
                               error: topic.errorCode == 0 ? nil
                                   : .broker(errorCode: topic.errorCode, topic: name, partition: nil, message: topic.errorMessage),
                               topicId: topic.topicId, partitions: -1, replicationFactor: -1)
        }
    }

    /// Deletes one topic, throwing its error (UNKNOWN_TOPIC_OR_PARTITION...).
    public func deleteTopic(_ name: String) async throws(ClientError) {
        let results = try await deleteTopics([name])
        if let error = results.first(where: { $0.name == name })?.error { throw error }
    }

    /// The names of all topics, sorted.
    public func listTopics(includeInternal: Bool = false) async throws(ClientError) -> [String] {
        let metadata = try await cluster.refreshMetadata(topics: nil, allowAutoCreate: false)
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.map(\.name).sorted()
    }

    /// Describes topics (partitions, leaders, replicas, ISR) without creating them.
    ///
    /// - Throws: the first topic's error (UNKNOWN_TOPIC_OR_PARTITION as `.unknownTopic`).
    public func describeTopics(_ names: [String]) async throws(ClientError) -> [TopicMetadata] {
        let metadata = try await cluster.refreshMetadata(topics: names, allowAutoCreate: false)
        var result: [TopicMetadata] = []
        for name in names {
            guard let topic = metadata.topics[name],
                  topic.errorCode != KafkaErrorCode.unknownTopicOrPartition.rawValue else { throw .unknownTopic(name) }
            if topic.errorCode != 0 { throw .broker(errorCode: topic.errorCode, topic: name, partition: nil, message: nil) }
            result.append(topic)
        }
        return result
    }

    /// Raises topics' partition counts to the given totals. Each result says whether it worked.
    public func createPartitions(_ totals: [String: Int32], validateOnly: Bool = false) async throws(ClientError) -> [TopicResult] {
        let request = CreatePartitionsRequest(
            topics: totals.sorted { $0.key < $1.key }.map { .init(name: $0.key, count: $0.value, assignments: nil) },
            timeoutMs: Int32(clamping: timeoutMs), validateOnly: validateOnly)
        let response = try await sendToController(request) { response in
            response.results.contains { $0.errorCode == KafkaErrorCode.notController.rawValue }
        }
        defer { cluster.requestMetadataRefresh() }
        return response.results.map { result in
            TopicResult(name: result.name,
                        error: result.errorCode == 0 ? nil
                            : .broker(errorCode: result.errorCode, topic: result.name, partition: nil, message: result.errorMessage),
                        topicId: .zero, partitions: totals[result.name] ?? -1, replicationFactor: -1)
        }
    }

    /// Describes the cluster: id, controller and brokers.
    public func describeCluster() async throws(ClientError) -> ClusterDescription {
        let metadata = try await cluster.refreshMetadata(topics: [], allowAutoCreate: false)
        return ClusterDescription(clusterId: metadata.clusterId, controllerId: metadata.controllerId,
                                  brokers: metadata.brokers.values.sorted { $0.nodeId < $1.nodeId })
    }

    // MARK: Offsets and records

    /// Looks up offsets per partition (each partition's leader is asked).
    ///
    /// - Returns: per partition, the offset or the partition's error.
    public func listOffsets(_ specs: [TopicAndPartition: OffsetSpec],
                            isolationLevel: IsolationLevel = .readUncommitted) async throws(ClientError)
        -> [TopicAndPartition: Result<ListedOffset, ClientError>] {
        try await perLeader(Array(specs.keys)) { partitions, nodeId throws(ClientError) in
            let request = ListOffsetsRequest(
                replicaId: -1, isolationLevel: isolationLevel.rawValue,
                topics: Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { topic, parts in
                    .init(name: topic, partitions: parts.map { .init(partitionIndex: $0.partition, timestamp: specs[$0]?.timestamp ?? -1) })
                },
                timeoutMs: Int32(clamping: self.timeoutMs))
            let response = try await self.cluster.send(request, toNode: nodeId)
            var results: [TopicAndPartition: Result<ListedOffset, ClientError>] = [:]
            for topic in response.topics {
                for partition in topic.partitions {
                    let key = TopicAndPartition(topic: topic.name, partition: partition.partitionIndex)
                    if partition.errorCode != 0 {
                        results[key] = .failure(.broker(partition.errorCode, key))
                    } else {
                        // ListOffsets v0 answers in oldStyleOffsets.
                        let offset = partition.offset >= 0 ? partition.offset : (partition.oldStyleOffsets.first ?? -1)
                        results[key] = .success(ListedOffset(offset: offset, timestampMs: partition.timestamp,
                                                             leaderEpoch: partition.leaderEpoch))
                    }
                }
            }
            return results
        }
    }

    /// Deletes the records before the given offsets (-1: the high watermark). Returns each
    /// partition's new log start offset (low watermark) or its error.
    public func deleteRecords(before offsets: [TopicAndPartition: Int64]) async throws(ClientError)
        -> [TopicAndPartition: Result<Int64, ClientError>] {
        try await perLeader(Array(offsets.keys)) { partitions, nodeId throws(ClientError) in
            let request = DeleteRecordsRequest(
                topics: Dictionary(grouping: partitions, by: \.topic).sorted { $0.key < $1.key }.map { topic, parts in
                    .init(name: topic, partitions: parts.map { .init(partitionIndex: $0.partition, offset: offsets[$0] ?? -1) })
                },
                timeoutMs: Int32(clamping: self.timeoutMs))
            let response = try await self.cluster.send(request, toNode: nodeId)
            var results: [TopicAndPartition: Result<Int64, ClientError>] = [:]
            for topic in response.topics {
                for partition in topic.partitions {
                    let key = TopicAndPartition(topic: topic.name, partition: partition.partitionIndex)
                    results[key] = partition.errorCode == 0 ? .success(partition.lowWatermark)
                        : .failure(.broker(partition.errorCode, key))
                }
            }
            return results
        }
    }

    // MARK: Configs

    /// Describes the configs of a topic or broker (all of them, or the named `keys`).
    public func describeConfigs(_ resource: ConfigResource, keys: [String]? = nil) async throws(ClientError) -> [ConfigEntry] {
        let request = DescribeConfigsRequest(resources: [.init(resourceType: resource.type, resourceName: resource.name,
                                                               configurationKeys: keys)])
        let response: DescribeConfigsResponse
        if case let .broker(nodeId) = resource {
            response = try await cluster.send(request, toNode: nodeId)
        } else {
            response = try await cluster.sendToAnyBroker(request)
        }
        guard let result = response.results.first else { return [] }
        if result.errorCode != 0 {
            let topic: String? = if case let .topic(name) = resource { name } else { nil }
            throw .broker(errorCode: result.errorCode, topic: topic, partition: nil, message: result.errorMessage)
        }
        return result.configs.map { config in
            let source = ConfigSource(rawValue: config.configSource) ?? (config.isDefault ? .defaultConfig : .unknown)
            return ConfigEntry(name: config.name, value: config.value, source: source, isReadOnly: config.readOnly,
                               isSensitive: config.isSensitive, isDefault: config.isDefault || source == .defaultConfig)
        }
    }

    // MARK: Plumbing

    /// Sends a controller request, retrying on connection errors and on NOT_CONTROLLER (after a
    /// metadata refresh) until `default.api.timeout.ms`.
    private func sendToController<Request: KafkaRequest>(_ request: Request,
                                                         notController: (Request.Response) -> Bool) async throws(ClientError)
        -> Request.Response {
        let deadline = cluster.deadlineNanoseconds(afterMs: timeoutMs)
        var attempt = 0
        while true {
            attempt += 1
            do throws(ClientError) {
                var metadata = cluster.metadata
                if metadata.fetchedAtNanoseconds == 0 || attempt > 1 {
                    metadata = try await cluster.refreshMetadata(topics: [], allowAutoCreate: false)
                }
                let response: Request.Response
                if metadata.controllerId >= 0, metadata.brokers[metadata.controllerId] != nil {
                    response = try await cluster.send(request, toNode: metadata.controllerId)
                } else {
                    response = try await cluster.sendToAnyBroker(request)
                }
                if !notController(response) || cluster.clock.monotonicNanoseconds() >= deadline { return response }
            } catch {
                guard error.isRetriable, cluster.clock.monotonicNanoseconds() < deadline else { throw error }
            }
            let now = cluster.clock.monotonicNanoseconds()
            let backoff = min(cluster.retryBackoffNanoseconds(attempt: attempt), deadline > now ? deadline - now : 0)
            do { try await cluster.clock.sleep(nanoseconds: backoff) } catch { throw .closed }
        }
    }

    /// Groups partitions by leader, runs `body` per leader, and merges the answers. Partitions
    /// without a leader, or whose leader's request failed, get that error.
    private func perLeader<Value: Sendable>(
        _ partitions: [TopicAndPartition],
        _ body: @Sendable ([TopicAndPartition], Int32) async throws(ClientError) -> [TopicAndPartition: Result<Value, ClientError>]
    ) async throws(ClientError) -> [TopicAndPartition: Result<Value, ClientError>] {
        var results: [TopicAndPartition: Result<Value, ClientError>] = [:]
        var pending = partitions
        let deadline = cluster.deadlineNanoseconds(afterMs: timeoutMs)
        var attempt = 0
        while !pending.isEmpty {
            attempt += 1
            let topics = Array(Set(pending.map(\.topic))).sorted()
            let metadata = try await cluster.refreshMetadata(topics: topics, allowAutoCreate: false)
            var byLeader: [Int32: [TopicAndPartition]] = [:]
            var retry: [TopicAndPartition] = []
            for partition in pending {
                guard let topic = metadata.topics[partition.topic], topic.errorCode == 0 else {
                    let code = metadata.topics[partition.topic]?.errorCode ?? KafkaErrorCode.unknownTopicOrPartition.rawValue
                    results[partition] = .failure(code == KafkaErrorCode.unknownTopicOrPartition.rawValue
                        ? .unknownTopic(partition.topic) : .broker(code, partition))
                    continue
                }
                guard partition.partition >= 0, Int(partition.partition) < topic.partitions.count else {
                    results[partition] = .failure(.invalidPartition(topic: partition.topic, partition: partition.partition,
                                                                    partitionCount: topic.partitions.count))
                    continue
                }
                let leader = topic.partitions[Int(partition.partition)].leaderId
                if leader < 0 { retry.append(partition) } else { byLeader[leader, default: []].append(partition) }
            }
            for (nodeId, group) in byLeader.sorted(by: { $0.key < $1.key }) {
                do throws(ClientError) {
                    let answers = try await body(group, nodeId)
                    for partition in group {
                        guard let answer = answers[partition] else {
                            results[partition] = .failure(.broker(KafkaErrorCode.unknownServerError.rawValue, partition,
                                                                  message: "the broker's answer did not mention the partition"))
                            continue
                        }
                        if case let .failure(error) = answer, error.isRetriable { retry.append(partition) } else { results[partition] = answer }
                    }
                } catch {
                    guard error.isRetriable else { throw error }
                    retry.append(contentsOf: group)
                }
            }
            pending = retry
            guard !pending.isEmpty else { break }
            let now = cluster.clock.monotonicNanoseconds()
            guard now < deadline else {
                for partition in pending where results[partition] == nil {
                    results[partition] = .failure(.timedOut(operation: "request for \(partition)", config: "default.api.timeout.ms",
                                                            afterMs: timeoutMs))
                }
                break
            }
            do { try await cluster.clock.sleep(nanoseconds: min(cluster.retryBackoffNanoseconds(attempt: attempt), deadline - now)) } catch {
                throw .closed
            }
        }
        return results
    }

    /// Closes the admin client (and its cluster client, if it owns one).
    public func close() async {
        if ownsCluster { await cluster.close() }
    }
}
