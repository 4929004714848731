import RivuletStorage
import RivuletWire

extension Broker {
    /// DeleteRecords: moves each partition's log start offset to the requested offset (-1: the high
    /// watermark); answers the new low watermark. Offsets above the high watermark (or negative) are
    /// OFFSET_OUT_OF_RANGE. A partition listed twice is INVALID_REQUEST.
    func handleDeleteRecords(_ request: DeleteRecordsRequest) -> DeleteRecordsResponse {
        let image = metadataCache.image
        var counts: [TopicPartition: Int] = [:]
        for topic in request.topics {
            for partition in topic.partitions { counts[TopicPartition(topic: topic.name, partition: partition.partitionIndex), default: 0] += 1 }
        }
        let topics = request.topics.map { topic in
            DeleteRecordsResponse.DeleteRecordsTopicResult(name: topic.name, partitions: topic.partitions.map { requested in
                let topicPartition = TopicPartition(topic: topic.name, partition: requested.partitionIndex)
                do throws(KafkaApiError) {
                    guard counts[topicPartition, default: 0] == 1 else {
                        throw KafkaApiError(.invalidRequest, "Partition \(topicPartition) appears more than once")
                    }
                    guard let metadata = image.topic(named: topic.name)?.partition(requested.partitionIndex) else {
                        throw KafkaApiError(.unknownTopicOrPartition)
                    }
                    guard metadata.leader == config.nodeId, let partition = replicaManager.partition(topicPartition) else {
                        throw KafkaApiError(.notLeaderOrFollower)
                    }
                    let lowWatermark = try partition.deleteRecords(before: requested.offset)
                    return DeleteRecordsResponse.DeleteRecordsPartitionResult(partitionIndex: requested.partitionIndex,
                                                                              lowWatermark: lowWatermark, errorCode: 0)
                } catch {
                    return DeleteRecordsResponse.DeleteRecordsPartitionResult(partitionIndex: requested.partitionIndex,
                                                                              lowWatermark: -1, errorCode: error.code.rawValue)
                }
            })
        }
        return DeleteRecordsResponse(throttleTimeMs: 0, topics: topics)
    }

    /// A DeleteRecords answer with `error` for every partition.
    static func deleteRecordsErrorAnswer(_ request: DeleteRecordsRequest, _ error: KafkaApiError) -> DeleteRecordsResponse {
        DeleteRecordsResponse(topics: request.topics.map { topic in
            DeleteRecordsResponse.DeleteRecordsTopicResult(name: topic.name, partitions: topic.partitions.map {
                DeleteRecordsResponse.DeleteRecordsPartitionResult(partitionIndex: $0.partitionIndex, lowWatermark: -1,
                                                                   errorCode: error.code.rawValue)
            })
        })
    }
}
