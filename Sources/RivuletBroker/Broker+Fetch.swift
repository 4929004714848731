import NIOCore
import RivuletStorage
import RivuletTransport
import RivuletWire

extension Broker {
    /// Fetch, every version: topics by name (v0-12) or by id (v13+, UNKNOWN_TOPIC_ID when unknown),
    /// long polling (`maxWaitMs`, `minBytes`), `maxBytes` (capped by `fetch.max.bytes`; the first batch
    /// comes whole from v3 on, KIP-74) and `partitionMaxBytes`. Fetch sessions (v7+) are not kept:
    /// full requests (sessionId 0, epoch 0 or -1) are answered sessionless (sessionId 0) and
    /// incremental ones get FETCH_SESSION_ID_NOT_FOUND, which every client handles with a full fetch.
    func handleFetch(_ request: FetchRequest, context: RequestContext) async -> FetchResponse {
        let version = context.apiVersion
        if version >= 7, request.sessionId != 0 || (request.sessionEpoch != 0 && request.sessionEpoch != -1) {
            return FetchResponse(errorCode: KafkaErrorCode.fetchSessionIdNotFound.rawValue, sessionId: 0, responses: [])
        }
        let replicaId = version >= 15 ? request.replicaState.replicaId : request.replicaId
        let useTopicIds = version >= 13
        let image = metadataCache.image
        let requestMaxBytes = version >= 3 ? request.maxBytes : Int32.max
        let params = FetchParams(replicaId: replicaId, maxWaitMs: request.maxWaitMs, minBytes: request.minBytes,
                                 maxBytes: min(max(0, requestMaxBytes), config.fetchMaxBytes), hardMaxBytesLimit: version <= 2)
        var responses: [FetchResponse.FetchableTopicResponse] = []
        responses.reserveCapacity(request.topics.count)
        var fetches: [FetchPartitionRequest] = []
        var slots: [(topic: Int, partition: Int)] = []
        for fetchTopic in request.topics {
            let topic = useTopicIds ? image.topic(id: fetchTopic.topicId) : image.topic(named: fetchTopic.topic)
            var partitions: [FetchResponse.PartitionData] = []
            partitions.reserveCapacity(fetchTopic.partitions.count)
            for fetchPartition in fetchTopic.partitions {
                var error: KafkaApiError?
                if let topic {
                    if let metadata = topic.partition(fetchPartition.partition) {
                        if metadata.leader != config.nodeId {
                            error = KafkaApiError(.notLeaderOrFollower)
                        } else if params.isFromFollower, !metadata.replicas.contains(replicaId) {
                            error = KafkaApiError(.notLeaderOrFollower, "Replica \(replicaId) is not a replica of this partition")
                        }
                    } else {
                        error = KafkaApiError(.unknownTopicOrPartition)
                    }
                } else {
                    error = KafkaApiError(useTopicIds ? .unknownTopicId : .unknownTopicOrPartition)
                }
                if let error {
                    partitions.append(Self.fetchPartitionData(fetchPartition.partition, FetchPartitionResult(error: error),
                                                              readCommitted: request.isolationLevel == 1))
                } else if let topic {
                    slots.append((responses.count, partitions.count))
                    fetches.append(FetchPartitionRequest(
                        topicPartition: TopicPartition(topic: topic.name, partition: fetchPartition.partition),
                        fetchOffset: fetchPartition.fetchOffset, partitionMaxBytes: fetchPartition.partitionMaxBytes,
                        currentLeaderEpoch: version >= 9 ? fetchPartition.currentLeaderEpoch : -1))
                    partitions.append(FetchResponse.PartitionData(partitionIndex: fetchPartition.partition))
                }
            }
            responses.append(FetchResponse.FetchableTopicResponse(topic: topic?.name ?? fetchTopic.topic,
                                                                  topicId: topic?.topicId ?? fetchTopic.topicId,
                                                                  partitions: partitions))
        }
        if !fetches.isEmpty {
            let results = await replicaManager.fetchMessages(params, fetches)
            for (slot, result) in zip(slots, results) {
                let index = responses[slot.topic].partitions[slot.partition].partitionIndex
                responses[slot.topic].partitions[slot.partition] = Self.fetchPartitionData(index, result,
                                                                                          readCommitted: request.isolationLevel == 1)
            }
        }
        return FetchResponse(throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: responses)
    }

    static func fetchPartitionData(_ index: Int32, _ result: FetchPartitionResult, readCommitted: Bool) -> FetchResponse.PartitionData {
        FetchResponse.PartitionData(
            partitionIndex: index, errorCode: result.error?.code.rawValue ?? 0, highWatermark: result.highWatermark,
            lastStableOffset: result.lastStableOffset, logStartOffset: result.logStartOffset,
            abortedTransactions: readCommitted ? [] : nil, preferredReadReplica: -1, records: result.records)
    }

    /// A Fetch answer with `error` for every partition (v7+: also as the top-level code).
    static func fetchErrorAnswer(_ request: FetchRequest, _ error: KafkaApiError, version: Int16) -> FetchResponse {
        FetchResponse(errorCode: version >= 7 ? error.code.rawValue : 0, responses: request.topics.map { topic in
            FetchResponse.FetchableTopicResponse(topic: topic.topic, topicId: topic.topicId, partitions: topic.partitions.map {
                fetchPartitionData($0.partition, FetchPartitionResult(error: error), readCommitted: false)
            })
        })
    }
}
