import RivuletStorage
import RivuletTransport
import RivuletWire

extension Broker {
    /// Produce: acks must be 0, 1 or -1 (else INVALID_REQUIRED_ACKS everywhere); each partition is
    /// resolved (UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER), validated and appended by the
    /// replica manager independently of the others. acks=0 gets no response.
    func handleProduce(_ request: ProduceRequest, context: RequestContext) async -> ProduceResponse? {
        let version = context.apiVersion
        let acks = request.acks
        guard acks == 0 || acks == 1 || acks == -1 else {
            return Self.produceErrorAnswer(request, KafkaApiError(.invalidRequiredAcks, "acks must be 0, 1 or -1, not \(acks)"))
        }
        let image = metadataCache.image
        var responses: [ProduceResponse.TopicProduceResponse] = []
        responses.reserveCapacity(request.topicData.count)
        var entries: [ProduceEntry] = []
        var slots: [(topic: Int, partition: Int)] = []
        for topicData in request.topicData {
            var partitionResponses: [ProduceResponse.PartitionProduceResponse] = []
            partitionResponses.reserveCapacity(topicData.partitionData.count)
            let topic = image.topic(named: topicData.name)
            for partitionData in topicData.partitionData {
                var error: KafkaApiError?
                if let topic, let metadata = topic.partition(partitionData.index) {
                    if metadata.leader != config.nodeId {
                        error = KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicData.name)-\(partitionData.index)")
                    }
                } else {
                    error = KafkaApiError(.unknownTopicOrPartition, "This server does not host \(topicData.name)-\(partitionData.index)")
                }
                if let error {
                    partitionResponses.append(Self.producePartitionResponse(partitionData.index, ProducePartitionResult(error: error)))
                } else {
                    slots.append((responses.count, partitionResponses.count))
                    entries.append(ProduceEntry(topicPartition: TopicPartition(topic: topicData.name, partition: partitionData.index),
                                                records: partitionData.records))
                    partitionResponses.append(ProduceResponse.PartitionProduceResponse(index: partitionData.index))
                }
            }
            responses.append(ProduceResponse.TopicProduceResponse(name: topicData.name, partitionResponses: partitionResponses))
        }
        if !entries.isEmpty {
            let results = await replicaManager.appendRecords(entries, requiredAcks: acks, timeoutMs: request.timeoutMs,
                                                             produceVersion: version)
            for (slot, result) in zip(slots, results) {
                let index = responses[slot.topic].partitionResponses[slot.partition].index
                responses[slot.topic].partitionResponses[slot.partition] = Self.producePartitionResponse(index, result)
            }
        }
        guard acks != 0 else { return nil }
        return ProduceResponse(responses: responses, throttleTimeMs: 0)
    }

    static func producePartitionResponse(_ index: Int32, _ result: ProducePartitionResult) -> ProduceResponse.PartitionProduceResponse {
        ProduceResponse.PartitionProduceResponse(
            index: index, errorCode: result.error?.code.rawValue ?? 0, baseOffset: result.baseOffset,
            logAppendTimeMs: result.logAppendTimeMs, logStartOffset: result.logStartOffset,
            errorMessage: result.error?.message)
    }

    /// A Produce answer with `error` for every partition of the request.
    static func produceErrorAnswer(_ request: ProduceRequest, _ error: KafkaApiError) -> ProduceResponse {
        ProduceResponse(responses: request.topicData.map { topic in
            ProduceResponse.TopicProduceResponse(name: topic.name, partitionResponses: topic.partitionData.map {
                producePartitionResponse($0.index, ProducePartitionResult(error: error))
            })
        })
    }
}
