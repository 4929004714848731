import RivuletStorage
import RivuletWire

extension Broker {
    /// OffsetForLeaderEpoch: for each partition, the largest epoch at most the requested one and the
    /// offset where it ended (from the leader epoch cache; the latest epoch ends at the log end).
    func handleOffsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest, version: Int16) -> OffsetForLeaderEpochResponse {
        let image = metadataCache.image
        let topics = request.topics.map { topic in
            OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(topic: topic.topic, partitions: topic.partitions.map { requested in
                do throws(KafkaApiError) {
                    guard let metadata = image.topic(named: topic.topic)?.partition(requested.partition) else {
                        throw KafkaApiError(.unknownTopicOrPartition)
                    }
                    guard metadata.leader == config.nodeId,
                          let partition = replicaManager.partition(TopicPartition(topic: topic.topic, partition: requested.partition))
                    else { throw KafkaApiError(.notLeaderOrFollower) }
                    let (epoch, endOffset) = try partition.endOffset(forLeaderEpoch: requested.leaderEpoch,
                                                                     currentLeaderEpoch: version >= 2 ? requested.currentLeaderEpoch : -1)
                    return OffsetForLeaderEpochResponse.EpochEndOffset(errorCode: 0, partition: requested.partition,
                                                                       leaderEpoch: epoch, endOffset: endOffset)
                } catch {
                    return OffsetForLeaderEpochResponse.EpochEndOffset(errorCode: error.code.rawValue, partition: requested.partition,
                                                                       leaderEpoch: -1, endOffset: -1)
                }
            })
        }
        return OffsetForLeaderEpochResponse(throttleTimeMs: 0, topics: topics)
    }

    /// An OffsetForLeaderEpoch answer with `error` for every partition.
    static func offsetForLeaderEpochErrorAnswer(_ request: OffsetForLeaderEpochRequest, _ error: KafkaApiError) -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse(topics: request.topics.map { topic in
            OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(topic: topic.topic, partitions: topic.partitions.map {
                OffsetForLeaderEpochResponse.EpochEndOffset(errorCode: error.code.rawValue, partition: $0.partition)
            })
        })
    }
}
