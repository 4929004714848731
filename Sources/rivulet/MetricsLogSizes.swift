import RivuletBroker

/// Reads every partition's log gauges from the broker at scrape time, for `MetricsServer`.
enum BrokerLogSizes {
    /// One sample per open partition: its log's size in bytes and its offsets (a closed log has no
    /// size and offsets of -1).
    static func samples(of broker: Broker) -> [LogSizeSample] {
        broker.replicaManager.allPartitions.map { partition in
            LogSizeSample(topic: partition.topicPartition.topic, partition: partition.topicPartition.partition,
                          sizeBytes: partition.logSizeBytes, logStartOffset: partition.logStartOffset ?? -1,
                          logEndOffset: partition.logEndOffset ?? -1, highWatermark: partition.highWatermark)
        }
    }
}
