import RivuletStorage
import RivuletWire

extension Broker {
    /// ListOffsets: -2 earliest, -1 latest (the high watermark for consumers, the log end for
    /// replicas and the debugging id -2), -3 the largest timestamp (v7+), >= 0 by timestamp.
    /// v0 answers in the old `oldStyleOffsets` array (at most `maxNumOffsets` entries); v1+ with one
    /// timestamp and offset (-1, -1 when nothing qualifies); v4+ adds the leader epoch. A partition
    /// listed twice gets INVALID_REQUEST, as in Kafka.
    func handleListOffsets(_ request: ListOffsetsRequest, version: Int16) -> ListOffsetsResponse {
        let image = metadataCache.image
        let isolation: FetchIsolation = request.replicaId == -1 ? .highWatermark : .logEnd
        var seen = Set<TopicPartition>()
        var duplicates = Set<TopicPartition>()
        for topic in request.topics {
            for partition in topic.partitions {
                let key = TopicPartition(topic: topic.name, partition: partition.partitionIndex)
                if !seen.insert(key).inserted { duplicates.insert(key) }
            }
        }
        let topics = request.topics.map { requestTopic in
            ListOffsetsResponse.ListOffsetsTopicResponse(name: requestTopic.name, partitions: requestTopic.partitions.map { requested in
                let topicPartition = TopicPartition(topic: requestTopic.name, partition: requested.partitionIndex)
                do throws(KafkaApiError) {
                    if duplicates.contains(topicPartition) {
                        throw KafkaApiError(.invalidRequest, "Partition \(topicPartition) appears more than once")
                    }
                    guard let metadata = image.topic(named: requestTopic.name)?.partition(requested.partitionIndex) else {
                        throw KafkaApiError(.unknownTopicOrPartition)
                    }
                    guard metadata.leader == config.nodeId, let partition = replicaManager.partition(topicPartition) else {
                        throw KafkaApiError(.notLeaderOrFollower)
                    }
                    let found = try partition.lookupOffset(timestampMs: requested.timestamp, isolation: isolation,
                                                           currentLeaderEpoch: version >= 4 ? requested.currentLeaderEpoch : -1)
                    if version == 0 {
                        let offsets = requested.maxNumOffsets > 0 ? (found.map { [$0.offset] } ?? []) : []
                        return ListOffsetsResponse.ListOffsetsPartitionResponse(partitionIndex: requested.partitionIndex,
                                                                                oldStyleOffsets: offsets)
                    }
                    return ListOffsetsResponse.ListOffsetsPartitionResponse(
                        partitionIndex: requested.partitionIndex, timestamp: found?.timestampMs ?? -1, offset: found?.offset ?? -1,
                        leaderEpoch: found?.leaderEpoch ?? -1)
                } catch {
                    return ListOffsetsResponse.ListOffsetsPartitionResponse(partitionIndex: requested.partitionIndex,
                                                                            errorCode: error.code.rawValue)
                }
            })
        }
        return ListOffsetsResponse(throttleTimeMs: 0, topics: topics)
    }

    /// A ListOffsets answer with `error` for every partition.
    static func listOffsetsErrorAnswer(_ request: ListOffsetsRequest, _ error: KafkaApiError) -> ListOffsetsResponse {
        ListOffsetsResponse(topics: request.topics.map { topic in
            ListOffsetsResponse.ListOffsetsTopicResponse(name: topic.name, partitions: topic.partitions.map {
                ListOffsetsResponse.ListOffsetsPartitionResponse(partitionIndex: $0.partitionIndex, errorCode: error.code.rawValue)
            })
        })
    }
}
