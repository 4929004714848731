import Logging
import NIOCore
import RivuletStorage
import RivuletWire

/// `GroupCoordinatorBackend` over a broker: `__consumer_offsets` is an ordinary (compacted) topic
/// written through the replica manager's append path with acks=all and read back from its
/// partitions; commit validation asks the broker's metadata cache.
final class BrokerOffsetsBackend: GroupCoordinatorBackend {
    private weak let broker: Broker?
    private let logger: Logger
    /// How long an append waits for acks=all before COORDINATOR_NOT_AVAILABLE (Kafka's
    /// `offsets.commit.timeout.ms`).
    let offsetsCommitTimeoutMs: Int32 = 5000

    init(broker: Broker, logger: Logger) {
        self.broker = broker
        self.logger = logger
    }

    private func topicPartition(_ partition: Int32) -> TopicPartition {
        TopicPartition(topic: GroupCoordinatorConfig.offsetsTopicName, partition: partition)
    }

    func appendOffsetsRecords(_ records: [OffsetsTopicRecord], partition: Int32) async throws(GroupStoreError) {
        guard let broker, !records.isEmpty else { throw GroupStoreError.unavailable(partition: partition, reason: "the broker stopped") }
        var builder = RecordBatchBuilder(initialCapacityBytes: 1024)
        let nowMs = broker.config.clock.wallMilliseconds()
        let batch: RecordBatch
        do throws(RecordBatchError) {
            for record in records {
                try builder.append(timestampMs: nowMs, key: record.key, value: record.value)
            }
            batch = try builder.build()
        } catch {
            throw GroupStoreError.tooLarge(sizeBytes: builder.estimatedSizeBytes)
        }
        let results = await broker.replicaManager.appendRecords(
            [ProduceEntry(topicPartition: topicPartition(partition), records: batch.buffer)], requiredAcks: -1,
            timeoutMs: offsetsCommitTimeoutMs, produceVersion: ProduceRequest.validVersions.upperBound)
        guard let error = results.first?.error else { return }
        switch error.code {
        case .notLeaderOrFollower, .unknownTopicOrPartition:
            throw GroupStoreError.notLeader(partition: partition)
        case .messageTooLarge, .recordListTooLarge, .invalidFetchSize:
            throw GroupStoreError.tooLarge(sizeBytes: batch.buffer.readableBytes)
        default:
            throw GroupStoreError.unavailable(partition: partition, reason: error.description)
        }
    }

    func readOffsetsRecords(partition: Int32) async throws(GroupStoreError) -> [OffsetsTopicRecord] {
        guard let broker, let log = broker.replicaManager.partition(topicPartition(partition)) else {
            throw GroupStoreError.notLeader(partition: partition)
        }
        var records: [OffsetsTopicRecord] = []
        var offset = log.logStartOffset ?? 0
        var skipped = 0
        while true {
            let read: PartitionReadResult
            do throws(KafkaApiError) {
                read = try log.read(fetchOffset: offset, maxBytes: 1 << 20, isolation: .highWatermark, currentLeaderEpoch: -1,
                                    minOneMessage: true)
            } catch {
                if error.code == .notLeaderOrFollower { throw GroupStoreError.notLeader(partition: partition) }
                throw GroupStoreError.unavailable(partition: partition, reason: error.description)
            }
            var next = offset
            for batch in RecordBatchSequence(read.records, mode: .allowPartialTail) {
                next = max(next, batch.header.lastOffset + 1)
                guard !batch.header.attributes.isControl else { continue }
                do {
                    try batch.forEachRecord { record in
                        guard record.offset >= offset, let key = record.key else { return }
                        do {
                            if let decoded = try OffsetsTopicRecord(key: key, value: record.value) { records.append(decoded) }
                        } catch {
                            skipped += 1
                        }
                    }
                } catch {
                    skipped += 1
                }
            }
            guard next > offset else { break }
            offset = next
        }
        if skipped > 0 {
            logger.warning("skipped unreadable records while loading offsets", metadata: [
                "partition": "\(partition)", "skipped": "\(skipped)",
            ])
        }
        return records
    }

    func partitionExists(topic: String, partition: Int32) async -> Bool {
        guard let broker, let metadata = broker.metadataCache.image.topic(named: topic) else { return false }
        return metadata.partition(partition) != nil
    }
}
