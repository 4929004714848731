extension BrokerConfig {
    /// The broker settings as DescribeConfigs reports them for the BROKER resource: Kafka's names,
    /// the values in effect, STATIC_BROKER_CONFIG when set away from Kafka's default, else DEFAULT_CONFIG.
    public var describedEntries: [TopicConfig.Entry] {
        typealias D = Defaults
        func entry(_ name: String, _ value: String, _ isDefault: Bool, _ type: ConfigType, _ documentation: String) -> TopicConfig.Entry {
            let source: ConfigSource = isDefault ? .defaultConfig : .staticBrokerConfig
            return TopicConfig.Entry(name: name, value: value, source: source, type: type, documentation: documentation,
                                     synonyms: [TopicConfig.Synonym(name: name, value: value, source: source)])
        }
        return [
            entry("advertised.listeners", "PLAINTEXT://\(advertisedAddress)", false, .string, "The address clients are told to use."),
            entry("auto.create.topics.enable", String(autoCreateTopicsEnable), autoCreateTopicsEnable == D.autoCreateTopicsEnable,
                  .boolean, "Whether Metadata requests create unknown topics."),
            entry("broker.id", String(nodeId), false, .int, "This broker's id."),
            entry("broker.rack", rack ?? "", rack == nil, .string, "The rack of this broker."),
            entry("compression.type", "producer", true, .string, "Batches are stored as the producer compressed them."),
            entry("default.replication.factor", String(defaultReplicationFactor), defaultReplicationFactor == D.defaultReplicationFactor,
                  .int, "Replicas of automatically created topics."),
            entry("delete.topic.enable", String(deleteTopicEnable), deleteTopicEnable == D.deleteTopicEnable, .boolean,
                  "Whether topics can be deleted."),
            entry("fetch.max.bytes", String(fetchMaxBytes), fetchMaxBytes == D.fetchMaxBytes, .int,
                  "The most bytes one Fetch response carries."),
            entry("group.initial.rebalance.delay.ms", String(groupInitialRebalanceDelayMs),
                  groupInitialRebalanceDelayMs == D.groupInitialRebalanceDelayMs, .int, "The delay of a new group's first rebalance."),
            entry("log.cleanup.policy", logCleanupPolicy, logCleanupPolicy == D.logCleanupPolicy, .list,
                  "The default cleanup policy of topics."),
            entry("log.flush.interval.messages", String(logFlushIntervalMessages), logFlushIntervalMessages == D.logFlushIntervalMessages,
                  .long, "Messages accumulated before a forced flush."),
            entry("log.flush.interval.ms", String(logFlushIntervalMs), logFlushIntervalMs == D.logFlushIntervalMs, .long,
                  "The longest time data stays unflushed."),
            entry("log.index.interval.bytes", String(logIndexIntervalBytes), logIndexIntervalBytes == D.logIndexIntervalBytes, .int,
                  "Bytes between two offset index entries."),
            entry("log.index.size.max.bytes", String(logIndexSizeMaxBytes), logIndexSizeMaxBytes == D.logIndexSizeMaxBytes, .int,
                  "The largest offset index per segment."),
            entry("log.message.timestamp.type", logMessageTimestampType, logMessageTimestampType == D.logMessageTimestampType,
                  .string, "CreateTime or LogAppendTime."),
            entry("log.retention.bytes", String(logRetentionBytes), logRetentionBytes == D.logRetentionBytes, .long,
                  "The largest size of a partition before old segments are deleted."),
            entry("log.retention.check.interval.ms", String(logRetentionCheckIntervalMs),
                  logRetentionCheckIntervalMs == D.logRetentionCheckIntervalMs, .long, "How often retention runs."),
            entry("log.retention.ms", String(logRetentionMs), logRetentionMs == D.logRetentionMs, .long,
                  "How long segments are kept."),
            entry("log.roll.ms", String(logRollMs), logRollMs == D.logRollMs, .long, "The longest time before a segment rolls."),
            entry("log.segment.bytes", String(logSegmentBytes), logSegmentBytes == D.logSegmentBytes, .int, "The size of a segment."),
            entry("message.max.bytes", String(messageMaxBytes), messageMaxBytes == D.messageMaxBytes, .int,
                  "The largest record batch accepted."),
            entry("min.insync.replicas", String(minInsyncReplicas), minInsyncReplicas == D.minInsyncReplicas, .int,
                  "The fewest in-sync replicas acks=all needs."),
            entry("num.partitions", String(numPartitions), numPartitions == D.numPartitions, .int,
                  "Partitions of automatically created topics."),
            entry("producer.id.expiration.ms", String(producerIdExpirationMs), producerIdExpirationMs == D.producerIdExpirationMs,
                  .int, "How long idle producer state is kept."),
            entry("replica.lag.time.max.ms", String(replicaLagTimeMaxMs), replicaLagTimeMaxMs == D.replicaLagTimeMaxMs, .long,
                  "How long a follower may lag before it leaves the ISR."),
        ]
    }
}
