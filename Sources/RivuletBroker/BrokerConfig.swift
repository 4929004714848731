import Logging
import RivuletStorage
import RivuletCore
import RivuletTransport

/// The settings of one broker, with Kafka's names (`log.retention.ms` is `logRetentionMs`) and
/// Kafka's defaults unless noted. Sizes are bytes, times milliseconds; `-1` disables a retention limit.
///
/// The broker-wide `log.*` settings are the defaults of the per-topic settings (`TopicConfig`): a topic
/// without its own `retention.ms` uses `logRetentionMs`.
public struct BrokerConfig: Sendable {
    // MARK: Identity

    /// `node.id`: this broker's id in the cluster (>= 0).
    public var nodeId: Int32
    /// `broker.rack`: the rack (or availability zone) this broker runs in, nil when not set.
    public var rack: String?
    /// The address clients are told to use for this broker (`advertised.listeners`).
    public var advertisedAddress: BrokerAddress
    /// The storage this broker keeps its logs and metadata in: `memory://`, `file:///dir`, `mmap:///dir`.
    public var storageURL: String
    /// The cluster id to use when the storage has none yet; nil generates one (22 characters of
    /// base64, as Kafka does). A stored cluster id always wins.
    public var clusterId: String?

    // MARK: Time, randomness, logs

    /// The clock for timestamps, retention, long polls and request timeouts.
    public var clock: any EngineClock
    /// The seed of the generator for topic ids and the cluster id, so a run can be replayed.
    public var randomSeed: UInt64
    /// Where the broker logs.
    public var logger: Logger

    // MARK: Topics

    /// `num.partitions`: partitions of a topic created automatically or with `numPartitions = -1`.
    public var numPartitions: Int32
    /// `default.replication.factor`: replicas of a topic created automatically or with `replicationFactor = -1`.
    public var defaultReplicationFactor: Int16
    /// `auto.create.topics.enable`: whether Metadata requests create unknown topics.
    public var autoCreateTopicsEnable: Bool
    /// `delete.topic.enable`: whether DeleteTopics is allowed.
    public var deleteTopicEnable: Bool
    /// The most partitions one topic may have (not a Kafka setting; a bound on what a request can
    /// make this broker open). CreateTopics and CreatePartitions above it get INVALID_PARTITIONS.
    public var topicPartitionsMax: Int32
    /// The most topics this broker holds (not a Kafka setting). Creation beyond it gets POLICY_VIOLATION.
    public var topicsMax: Int

    // MARK: Logs (defaults of the topic configs)

    /// `log.segment.bytes`: default `segment.bytes` (1 GiB).
    public var logSegmentBytes: Int
    /// `log.roll.ms`: default `segment.ms` (7 days).
    public var logRollMs: Int64
    /// `log.retention.ms`: default `retention.ms` (7 days; -1 keeps everything).
    public var logRetentionMs: Int64
    /// `log.retention.bytes`: default `retention.bytes` (-1, no size limit).
    public var logRetentionBytes: Int64
    /// `log.retention.check.interval.ms`: how often the retention task runs (Kafka 300000).
    public var logRetentionCheckIntervalMs: Int64
    /// `log.cleanup.policy`: default `cleanup.policy`; only `delete` is supported.
    public var logCleanupPolicy: String
    /// `message.max.bytes`: default `max.message.bytes`, the largest record batch accepted (1048588).
    public var messageMaxBytes: Int
    /// `log.message.timestamp.type`: default `message.timestamp.type`, `CreateTime` or `LogAppendTime`.
    public var logMessageTimestampType: String
    /// `log.flush.interval.messages`: default `flush.messages` (never forced).
    public var logFlushIntervalMessages: Int64
    /// `log.flush.interval.ms`: default `flush.ms` (never forced).
    public var logFlushIntervalMs: Int64
    /// `log.index.size.max.bytes`: default `segment.index.bytes` (10 MiB).
    public var logIndexSizeMaxBytes: Int
    /// `log.index.interval.bytes`: default `index.interval.bytes` (4096).
    public var logIndexIntervalBytes: Int
    /// `min.insync.replicas`: default `min.insync.replicas` of topics (1).
    public var minInsyncReplicas: Int32

    // MARK: Requests

    /// `fetch.max.bytes`: the most bytes one Fetch response carries, whatever the request asks (55 MiB).
    public var fetchMaxBytes: Int32
    /// `replica.lag.time.max.ms`: how long a follower may lag before it leaves the ISR (replication).
    public var replicaLagTimeMaxMs: Int64
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch waits at the leader for new data (500).
    public var replicaFetchWaitMaxMs: Int64
    /// `replica.fetch.max.bytes`: the most bytes a follower asks per partition (1 MiB; the first batch
    /// comes whole even if larger).
    public var replicaFetchMaxBytes: Int32
    /// `replica.fetch.response.max.bytes`: the most bytes of one follower fetch response (10 MiB).
    public var replicaFetchResponseMaxBytes: Int32
    /// `replica.fetch.backoff.ms`: how long a follower waits after a fetch error (Kafka 1000).
    public var replicaFetchBackoffMs: Int64
    /// `replica.socket.timeout.ms`: how long a follower waits for a leader's answer before it
    /// reconnects (Kafka 30000; must exceed `replica.fetch.wait.max.ms`).
    public var replicaSocketTimeoutMs: Int64
    /// `unclean.leader.election.enable`: whether a replica outside the ISR may become leader when no
    /// in-sync replica is alive (losing acknowledged records). Off, as in Kafka; topics may override it.
    public var uncleanLeaderElectionEnable: Bool
    /// `zookeeper.session.timeout.ms`: the coordination session timeout brokers ask for (Kafka 18000).
    public var zookeeperSessionTimeoutMs: Int
    /// `auto.leader.rebalance.enable`: whether the controller moves leadership back to each partition's
    /// preferred replica (the first of its assignment) once it is in sync again (on, as in Kafka).
    public var autoLeaderRebalanceEnable: Bool
    /// `leader.imbalance.check.interval.seconds`, in milliseconds: how often the controller checks the
    /// leadership balance (Kafka 300 s).
    public var leaderImbalanceCheckIntervalMs: Int64
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's preferred partitions led
    /// elsewhere above which the controller moves them back (Kafka 10).
    public var leaderImbalancePerBrokerPercentage: Int
    /// How often a broker re-reads the cluster state even without a watch firing (not a Kafka
    /// setting; a safety net, since every change also fires a watch).
    public var metadataRefreshIntervalMs: Int64
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of a new group waits for
    /// more members. Rivulet's default is 100 ms (Kafka's 3000); see `GroupCoordinatorConfig`.
    public var groupInitialRebalanceDelayMs: Int64
    /// `producer.id.expiration.ms`: producer state older than this is forgotten (1 day).
    public var producerIdExpirationMs: Int64
    /// How many producer ids the broker takes from the cluster at a time (Kafka's block size, 1000).
    public var producerIdBlockSize: Int64
    /// When a log has no producer-state snapshot (after a crash), the broker rebuilds idempotent
    /// producer state from at most this many offsets at the end of the log (not a Kafka setting).
    public var producerStateRecoveryOffsetsMax: Int64

    /// A broker with Kafka's defaults, reachable at `advertisedAddress`, storing in `storageURL`.
    public init(nodeId: Int32 = 0,
                advertisedAddress: BrokerAddress = BrokerAddress(host: "localhost", port: 9092),
                storageURL: String = "memory://",
                clock: any EngineClock = SystemClock(),
                randomSeed: UInt64 = UInt64.random(in: .min ... .max),
                logger: Logger = Logger(label: "rivulet.broker")) {
        self.nodeId = nodeId
        self.rack = nil
        self.advertisedAddress = advertisedAddress
        self.storageURL = storageURL
        self.clusterId = nil
        self.clock = clock
        self.randomSeed = randomSeed
        self.logger = logger
        self.numPartitions = Defaults.numPartitions
        self.defaultReplicationFactor = Defaults.defaultReplicationFactor
        self.autoCreateTopicsEnable = Defaults.autoCreateTopicsEnable
        self.deleteTopicEnable = Defaults.deleteTopicEnable
        self.topicPartitionsMax = Defaults.topicPartitionsMax
        self.topicsMax = Defaults.topicsMax
        self.logSegmentBytes = Defaults.logSegmentBytes
        self.logRollMs = Defaults.logRollMs
        self.logRetentionMs = Defaults.logRetentionMs
        self.logRetentionBytes = Defaults.logRetentionBytes
        self.logRetentionCheckIntervalMs = Defaults.logRetentionCheckIntervalMs
        self.logCleanupPolicy = Defaults.logCleanupPolicy
        self.messageMaxBytes = Defaults.messageMaxBytes
        self.logMessageTimestampType = Defaults.logMessageTimestampType
        self.logFlushIntervalMessages = Defaults.logFlushIntervalMessages
        self.logFlushIntervalMs = Defaults.logFlushIntervalMs
        self.logIndexSizeMaxBytes = Defaults.logIndexSizeMaxBytes
        self.logIndexIntervalBytes = Defaults.logIndexIntervalBytes
        self.minInsyncReplicas = Defaults.minInsyncReplicas
        self.fetchMaxBytes = Defaults.fetchMaxBytes
        self.replicaLagTimeMaxMs = Defaults.replicaLagTimeMaxMs
        self.replicaFetchWaitMaxMs = Defaults.replicaFetchWaitMaxMs
        self.replicaFetchMaxBytes = Defaults.replicaFetchMaxBytes
        self.replicaFetchResponseMaxBytes = Defaults.replicaFetchResponseMaxBytes
        self.replicaFetchBackoffMs = Defaults.replicaFetchBackoffMs
        self.replicaSocketTimeoutMs = Defaults.replicaSocketTimeoutMs
        self.uncleanLeaderElectionEnable = Defaults.uncleanLeaderElectionEnable
        self.zookeeperSessionTimeoutMs = Defaults.zookeeperSessionTimeoutMs
        self.autoLeaderRebalanceEnable = Defaults.autoLeaderRebalanceEnable
        self.leaderImbalanceCheckIntervalMs = Defaults.leaderImbalanceCheckIntervalMs
        self.leaderImbalancePerBrokerPercentage = Defaults.leaderImbalancePerBrokerPercentage
        self.metadataRefreshIntervalMs = Defaults.metadataRefreshIntervalMs
        self.groupInitialRebalanceDelayMs = Defaults.groupInitialRebalanceDelayMs
        self.producerIdExpirationMs = Defaults.producerIdExpirationMs
        self.producerIdBlockSize = Defaults.producerIdBlockSize
        self.producerStateRecoveryOffsetsMax = Defaults.producerStateRecoveryOffsetsMax
    }

    /// Kafka's default for every setting (ours where Kafka has none).
    public enum Defaults {
        public static let numPartitions: Int32 = 1
        public static let defaultReplicationFactor: Int16 = 1
        public static let autoCreateTopicsEnable = true
        public static let deleteTopicEnable = true
        public static let topicPartitionsMax: Int32 = 10_000
        public static let topicsMax = 100_000
        public static let logSegmentBytes = 1_073_741_824
        public static let logRollMs: Int64 = 604_800_000
        public static let logRetentionMs: Int64 = 604_800_000
        public static let logRetentionBytes: Int64 = -1
        public static let logRetentionCheckIntervalMs: Int64 = 300_000
        public static let logCleanupPolicy = "delete"
        public static let messageMaxBytes = 1_048_588
        public static let logMessageTimestampType = "CreateTime"
        public static let logFlushIntervalMessages = Int64.max
        public static let logFlushIntervalMs = Int64.max
        public static let logIndexSizeMaxBytes = 10_485_760
        public static let logIndexIntervalBytes = 4096
        public static let minInsyncReplicas: Int32 = 1
        public static let fetchMaxBytes: Int32 = 57_671_680
        public static let replicaLagTimeMaxMs: Int64 = 30_000
        public static let replicaFetchWaitMaxMs: Int64 = 500
        public static let replicaFetchMaxBytes: Int32 = 1_048_576
        public static let replicaFetchResponseMaxBytes: Int32 = 10_485_760
        public static let replicaFetchBackoffMs: Int64 = 1000
        public static let replicaSocketTimeoutMs: Int64 = 30_000
        public static let uncleanLeaderElectionEnable = false
        public static let zookeeperSessionTimeoutMs = 18_000
        public static let autoLeaderRebalanceEnable = true
        public static let leaderImbalanceCheckIntervalMs: Int64 = 300_000
        public static let leaderImbalancePerBrokerPercentage = 10
        public static let metadataRefreshIntervalMs: Int64 = 5000
        public static let groupInitialRebalanceDelayMs: Int64 = 100
        public static let producerIdExpirationMs: Int64 = 86_400_000
        public static let producerIdBlockSize: Int64 = 1000
        public static let producerStateRecoveryOffsetsMax: Int64 = 100_000
    }

    /// Checks the settings' ranges. Throws `BrokerError.invalidConfig` naming the setting.
    public func validate() throws(BrokerError) {
        func check(_ ok: Bool, _ name: String, _ value: Any, _ reason: String) throws(BrokerError) {
            if !ok { throw .invalidConfig(name: name, value: "\(value)", reason: reason) }
        }
        try check(nodeId >= 0, "node.id", nodeId, "must not be negative")
        try check(numPartitions >= 1 && numPartitions <= topicPartitionsMax, "num.partitions", numPartitions,
                  "must be between 1 and \(topicPartitionsMax)")
        try check(defaultReplicationFactor >= 1, "default.replication.factor", defaultReplicationFactor, "must be at least 1")
        try check(topicPartitionsMax >= 1, "topic.partitions.max", topicPartitionsMax, "must be at least 1")
        try check(topicsMax >= 1, "topics.max", topicsMax, "must be at least 1")
        try check(logRetentionCheckIntervalMs >= 1, "log.retention.check.interval.ms", logRetentionCheckIntervalMs, "must be at least 1")
        try check(fetchMaxBytes >= 0, "fetch.max.bytes", fetchMaxBytes, "must not be negative")
        try check(minInsyncReplicas >= 1, "min.insync.replicas", minInsyncReplicas, "must be at least 1")
        try check(replicaLagTimeMaxMs >= 1, "replica.lag.time.max.ms", replicaLagTimeMaxMs, "must be at least 1")
        try check(replicaFetchWaitMaxMs >= 0, "replica.fetch.wait.max.ms", replicaFetchWaitMaxMs, "must not be negative")
        try check(replicaFetchMaxBytes >= 1, "replica.fetch.max.bytes", replicaFetchMaxBytes, "must be at least 1")
        try check(replicaFetchResponseMaxBytes >= 1, "replica.fetch.response.max.bytes", replicaFetchResponseMaxBytes, "must be at least 1")
        try check(replicaFetchBackoffMs >= 1, "replica.fetch.backoff.ms", replicaFetchBackoffMs, "must be at least 1")
        try check(replicaSocketTimeoutMs > replicaFetchWaitMaxMs, "replica.socket.timeout.ms", replicaSocketTimeoutMs,
                  "must exceed replica.fetch.wait.max.ms \(replicaFetchWaitMaxMs)")
        try check(zookeeperSessionTimeoutMs >= 1, "zookeeper.session.timeout.ms", zookeeperSessionTimeoutMs, "must be at least 1")
        try check(metadataRefreshIntervalMs >= 1, "metadata.refresh.interval.ms", metadataRefreshIntervalMs, "must be at least 1")
        try check(leaderImbalanceCheckIntervalMs >= 1, "leader.imbalance.check.interval.seconds", "\(leaderImbalanceCheckIntervalMs) ms",
                  "must be positive")
        try check((0 ... 100).contains(leaderImbalancePerBrokerPercentage), "leader.imbalance.per.broker.percentage",
                  leaderImbalancePerBrokerPercentage, "must be between 0 and 100")
        try check(producerIdBlockSize >= 1, "producer.id.block.size", producerIdBlockSize, "must be at least 1")
        try check(producerStateRecoveryOffsetsMax >= 0, "producer.state.recovery.offsets.max",
                  producerStateRecoveryOffsetsMax, "must not be negative")
        try check(producerIdExpirationMs >= 1, "producer.id.expiration.ms", producerIdExpirationMs, "must be at least 1")
        try check(TimestampType(rawValue: logMessageTimestampType) != nil, "log.message.timestamp.type", logMessageTimestampType,
                  "must be CreateTime or LogAppendTime")
        try check(logCleanupPolicy == "delete", "log.cleanup.policy", logCleanupPolicy, "only delete is supported")
        // The log defaults go through the storage's own validation.
        do throws(StorageError) {
            try TopicConfig.defaults(of: self).logConfig.validate()
        } catch {
            guard case let .invalidConfig(name, value, reason) = error else {
                throw .invalidConfig(name: "log.*", value: "", reason: error.description)
            }
            throw .invalidConfig(name: Self.brokerName(ofTopicConfig: name), value: value, reason: reason)
        }
    }

    /// The broker setting that supplies the default of a topic config (`retention.ms` -> `log.retention.ms`).
    static func brokerName(ofTopicConfig name: String) -> String {
        TopicConfigDefinition.byName[name]?.brokerSynonym ?? name
    }
}
