import RivuletBroker

/// Reads every partition's log gauges from the broker at scrape time, for `MetricsServer`.
enum BrokerLogSizes {
    /// One sample per open partition. `sizeBytes` stays nil until the broker exposes its logs'
    /// sizes (`Partition` keeps its `LogStore` private); offsets are always there.
    static func samples(of broker: Broker) -> [LogSizeSample] {
        broker.replicaManager.allPartitions.map { partition in
            LogSizeSample(topic: partition.topicPartition.topic, partition: partition.topicPartition.partition,
                          sizeBytes: nil, logStartOffset: partition.logStartOffset ?? -1,
                          logEndOffset: partition.logEndOffset ?? -1, highWatermark: partition.highWatermark)
        }
    }
}
