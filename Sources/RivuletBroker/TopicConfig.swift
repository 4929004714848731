import RivuletStorage
import RivuletWire

/// Kafka's config value types, as DescribeConfigs v3+ reports them (`configType`).
public enum ConfigType: Int8, Sendable, Hashable {
    case unknown = 0, boolean = 1, string = 2, int = 3, short = 4, long = 5, double = 6, list = 7, `class` = 8, password = 9
}

/// Where a config value comes from, as DescribeConfigs v1+ reports it (`configSource`).
public enum ConfigSource: Int8, Sendable, Hashable {
    case unknown = 0
    case dynamicTopicConfig = 1
    case dynamicBrokerConfig = 2
    case dynamicDefaultBrokerConfig = 3
    case staticBrokerConfig = 4
    case defaultConfig = 5
    case dynamicBrokerLoggerConfig = 6
}

/// How record timestamps are set (`message.timestamp.type`).
public enum TimestampType: String, Sendable, Hashable {
    /// The producer's timestamps are kept.
    case createTime = "CreateTime"
    /// The broker stamps its clock into each batch (attributes bit 3 and maxTimestamp).
    case logAppendTime = "LogAppendTime"
}

/// The per-topic settings in effect: the broker's `log.*` defaults with the topic's overrides applied.
///
/// Values carry Kafka's names (`retention.ms` is `retentionMs`) and units (bytes, milliseconds).
public struct ResolvedTopicConfig: Sendable, Hashable {
    /// `cleanup.policy`: `delete`, `compact` or `compact,delete` (compaction by `LogCleaner`).
    public var cleanupPolicy: String
    /// `retention.ms`: delete segments older than this (-1 keeps them).
    public var retentionMs: Int64
    /// `retention.bytes`: delete the oldest segments while the partition is larger (-1 disables).
    public var retentionBytes: Int64
    /// `segment.bytes`: roll the active segment at this size.
    public var segmentBytes: Int
    /// `segment.ms`: roll the active segment at this age.
    public var segmentMs: Int64
    /// `max.message.bytes`: the largest record batch accepted.
    public var maxMessageBytes: Int
    /// `message.timestamp.type`.
    public var messageTimestampType: TimestampType
    /// `min.insync.replicas`: acks=all needs at least this many in-sync replicas.
    public var minInsyncReplicas: Int32
    /// `flush.messages`: flush after this many unflushed messages.
    public var flushMessages: Int64
    /// `flush.ms`: flush when the last flush is this old.
    public var flushMs: Int64
    /// `segment.index.bytes`: the largest index per segment.
    public var segmentIndexBytes: Int
    /// `index.interval.bytes`: bytes between two index entries.
    public var indexIntervalBytes: Int
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    public var deleteRetentionMs: Int64 = 86_400_000
    /// `min.cleanable.dirty.ratio`: the share of uncleaned bytes that triggers compaction.
    public var minCleanableDirtyRatio: Double = 0.5

    /// Whether the log is compacted (`cleanup.policy` contains `compact`).
    public var compacts: Bool { cleanupPolicy.split(separator: ",").contains("compact") }
    /// Whether old segments are deleted by `retention.ms`/`retention.bytes` (the policy contains `delete`).
    public var deletes: Bool { cleanupPolicy.split(separator: ",").contains("delete") }

    /// The storage settings of one partition log of the topic.
    public var logConfig: LogConfig {
        LogConfig(segmentBytes: segmentBytes, segmentMs: segmentMs, segmentIndexBytes: segmentIndexBytes,
                  indexIntervalBytes: indexIntervalBytes, retentionBytes: retentionBytes, retentionMs: retentionMs,
                  flushMessages: flushMessages, flushMs: flushMs, maxMessageBytes: maxMessageBytes)
    }
}

/// A topic's own config overrides (what CreateTopics and AlterConfigs set), validated against Kafka's
/// rules for each name. Names not overridden take the broker's `log.*` default.
///
/// Unknown names and bad values are refused with INVALID_CONFIG, as Kafka does. A few settings are
/// accepted and reported without affecting this engine yet (compaction lags, `preallocate`, ...) so
/// that tools which set them keep working; `compression.type` other than `producer` is refused
/// because the broker cannot honour it.
public struct TopicConfig: Sendable, Hashable {
    /// The overrides, by Kafka config name, normalized (trimmed).
    public private(set) var overrides: [String: String]

    /// A topic without overrides.
    public init() {
        overrides = [:]
    }

    /// Validates `configs` (name, value) as a topic's overrides. Throws INVALID_CONFIG naming the
    /// first bad entry: an unknown name, a null value, a value out of range, or a name given twice.
    public init(validating configs: [(name: String, value: String?)]) throws(KafkaApiError) {
        var overrides: [String: String] = [:]
        for (name, value) in configs {
            guard let definition = TopicConfigDefinition.byName[name] else {
                throw KafkaApiError(.invalidConfig, "Unknown topic config name: \(name)")
            }
            guard let value else {
                throw KafkaApiError(.invalidConfig, "Null value not supported for topic configs: \(name)")
            }
            guard overrides[name] == nil else {
                throw KafkaApiError(.invalidConfig, "Config \(name) is given more than once")
            }
            let trimmed = Self.trim(value)
            var probe = TopicConfig.kafkaDefaults
            try definition.apply(&probe, trimmed)
            overrides[name] = trimmed
        }
        self.overrides = overrides
    }

    /// The settings in effect for a topic with these overrides on a broker with `broker`'s defaults.
    public func resolved(with broker: BrokerConfig) -> ResolvedTopicConfig {
        var config = Self.defaults(of: broker)
        for (name, value) in overrides {
            // Overrides were validated when set; a value that no longer parses keeps the default.
            try? TopicConfigDefinition.byName[name]?.apply(&config, value)
        }
        return config
    }

    /// The broker's defaults as topic settings.
    public static func defaults(of broker: BrokerConfig) -> ResolvedTopicConfig {
        ResolvedTopicConfig(
            cleanupPolicy: broker.logCleanupPolicy, retentionMs: broker.logRetentionMs,
            retentionBytes: broker.logRetentionBytes, segmentBytes: broker.logSegmentBytes, segmentMs: broker.logRollMs,
            maxMessageBytes: broker.messageMaxBytes,
            messageTimestampType: TimestampType(rawValue: broker.logMessageTimestampType) ?? .createTime,
            minInsyncReplicas: broker.minInsyncReplicas, flushMessages: broker.logFlushIntervalMessages,
            flushMs: broker.logFlushIntervalMs, segmentIndexBytes: broker.logIndexSizeMaxBytes,
            indexIntervalBytes: broker.logIndexIntervalBytes)
    }

    /// Kafka's own defaults, for validating values independently of a broker.
    static let kafkaDefaults = defaults(of: BrokerConfig(randomSeed: 0))

    /// One config as DescribeConfigs reports it.
    public struct Entry: Sendable, Hashable {
        /// The config name.
        public var name: String
        /// The value in effect.
        public var value: String
        /// Where the value comes from.
        public var source: ConfigSource
        /// The value type.
        public var type: ConfigType
        /// Kafka's documentation of the config.
        public var documentation: String
        /// The values that could supply this config, most specific first (DescribeConfigs synonyms).
        public var synonyms: [Synonym]
    }

    /// A setting that can supply a config's value: the topic override or the broker setting.
    public struct Synonym: Sendable, Hashable {
        /// The setting's name (`retention.ms`, `log.retention.ms`).
        public var name: String
        /// Its value.
        public var value: String
        /// Where it comes from.
        public var source: ConfigSource
    }

    /// Every topic config with its value in effect, source and synonyms, in Kafka's name order.
    public func entries(broker: BrokerConfig) -> [Entry] {
        TopicConfigDefinition.all.map { definition in
            let brokerValue = definition.brokerValue(broker)
            let brokerSource: ConfigSource = definition.brokerValueIsDefault(broker) ? .defaultConfig : .staticBrokerConfig
            var synonyms: [Synonym] = []
            if let override = overrides[definition.name] {
                synonyms.append(Synonym(name: definition.name, value: override, source: .dynamicTopicConfig))
            }
            if let synonym = definition.brokerSynonym {
                synonyms.append(Synonym(name: synonym, value: brokerValue, source: brokerSource))
            }
            if let override = overrides[definition.name] {
                return Entry(name: definition.name, value: override, source: .dynamicTopicConfig, type: definition.type,
                             documentation: definition.documentation, synonyms: synonyms)
            }
            return Entry(name: definition.name, value: brokerValue,
                         source: definition.brokerSynonym == nil ? .defaultConfig : brokerSource,
                         type: definition.type, documentation: definition.documentation, synonyms: synonyms)
        }
    }

    static func trim(_ value: String) -> String {
        String(value.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// How one topic config is named, typed, documented, defaulted by the broker and validated.
struct TopicConfigDefinition: Sendable {
    let name: String
    let type: ConfigType
    /// The broker setting that supplies the default, if any.
    let brokerSynonym: String?
    let documentation: String
    /// The broker's value for this config (the default of topics without an override).
    let brokerValue: @Sendable (BrokerConfig) -> String
    /// Whether the broker's value is Kafka's default (DEFAULT_CONFIG) or was set (STATIC_BROKER_CONFIG).
    let brokerValueIsDefault: @Sendable (BrokerConfig) -> Bool
    /// Parses and checks a value and stores it in the resolved config (or only checks it).
    let apply: @Sendable (inout ResolvedTopicConfig, String) throws(KafkaApiError) -> Void

    static let byName: [String: TopicConfigDefinition] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static func invalid(_ name: String, _ value: String, _ reason: String) -> KafkaApiError {
        KafkaApiError(.invalidConfig, "Invalid value \(value) for configuration \(name): \(reason)")
    }

    static func long(_ name: String, _ value: String, min: Int64, max: Int64 = .max) throws(KafkaApiError) -> Int64 {
        guard let parsed = Int64(value) else { throw invalid(name, value, "Not a number of type LONG") }
        guard parsed >= min, parsed <= max else {
            throw invalid(name, value, max == .max ? "Value must be at least \(min)" : "Value must be between \(min) and \(max)")
        }
        return parsed
    }

    static func int(_ name: String, _ value: String, min: Int64, max: Int64 = Int64(Int32.max)) throws(KafkaApiError) -> Int {
        guard let parsed = Int32(value) else { throw invalid(name, value, "Not a number of type INT") }
        guard Int64(parsed) >= min, Int64(parsed) <= max else {
            throw invalid(name, value, "Value must be between \(min) and \(max)")
        }
        return Int(parsed)
    }

    static func bool(_ name: String, _ value: String) throws(KafkaApiError) -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw invalid(name, value, "Expected value to be either true or false")
        }
    }

    /// A config stored and described, with no effect on this engine yet.
    static func accepted(_ name: String, _ type: ConfigType, kafkaDefault: String, _ documentation: String,
                         check: @escaping @Sendable (String) throws(KafkaApiError) -> Void) -> TopicConfigDefinition {
        TopicConfigDefinition(name: name, type: type, brokerSynonym: nil, documentation: documentation,
                              brokerValue: { _ in kafkaDefault }, brokerValueIsDefault: { _ in true },
                              apply: { _, value throws(KafkaApiError) in try check(value) })
    }

    static let all: [TopicConfigDefinition] = [
        TopicConfigDefinition(
            name: "cleanup.policy", type: .list, brokerSynonym: "log.cleanup.policy",
            documentation: "The retention policy to use on old log segments: delete, compact, or both.",
            brokerValue: { $0.logCleanupPolicy },
            brokerValueIsDefault: { $0.logCleanupPolicy == BrokerConfig.Defaults.logCleanupPolicy },
            apply: { config, value throws(KafkaApiError) in
                let policies = value.split(separator: ",").map { TopicConfig.trim(String($0)) }
                guard !policies.isEmpty else { throw invalid("cleanup.policy", value, "Empty list") }
                for policy in policies where policy != "delete" && policy != "compact" {
                    throw invalid("cleanup.policy", value, "String must be one of: compact, delete")
                }
                config.cleanupPolicy = ["compact", "delete"].filter { policies.contains($0) }.joined(separator: ",")
            }),
        TopicConfigDefinition(
            name: "delete.retention.ms", type: .long, brokerSynonym: "log.cleaner.delete.retention.ms",
            documentation: "How long tombstones are retained for compacted topics.",
            brokerValue: { _ in "86400000" }, brokerValueIsDefault: { _ in true },
            apply: { config, value throws(KafkaApiError) in config.deleteRetentionMs = try long("delete.retention.ms", value, min: 0) }),
        accepted("file.delete.delay.ms", .long, kafkaDefault: "60000",
                 "How long to wait before deleting a file from the filesystem (files are deleted at once).") { value throws(KafkaApiError) in
            _ = try long("file.delete.delay.ms", value, min: 0)
        },
        TopicConfigDefinition(
            name: "flush.messages", type: .long, brokerSynonym: "log.flush.interval.messages",
            documentation: "Force an fsync of the log after this many messages.",
            brokerValue: { String($0.logFlushIntervalMessages) },
            brokerValueIsDefault: { $0.logFlushIntervalMessages == BrokerConfig.Defaults.logFlushIntervalMessages },
            apply: { config, value throws(KafkaApiError) in config.flushMessages = try long("flush.messages", value, min: 1) }),
        TopicConfigDefinition(
            name: "flush.ms", type: .long, brokerSynonym: "log.flush.interval.ms",
            documentation: "Force an fsync of the log when the last one is this many milliseconds old.",
            brokerValue: { String($0.logFlushIntervalMs) },
            brokerValueIsDefault: { $0.logFlushIntervalMs == BrokerConfig.Defaults.logFlushIntervalMs },
            apply: { config, value throws(KafkaApiError) in config.flushMs = try long("flush.ms", value, min: 0) }),
        TopicConfigDefinition(
            name: "index.interval.bytes", type: .int, brokerSynonym: "log.index.interval.bytes",
            documentation: "How many bytes are appended between two offset index entries.",
            brokerValue: { String($0.logIndexIntervalBytes) },
            brokerValueIsDefault: { $0.logIndexIntervalBytes == BrokerConfig.Defaults.logIndexIntervalBytes },
            apply: { config, value throws(KafkaApiError) in config.indexIntervalBytes = try int("index.interval.bytes", value, min: 0) }),
        accepted("max.compaction.lag.ms", .long, kafkaDefault: String(Int64.max),
                 "The maximum time a message remains ineligible for compaction (no effect).") { value throws(KafkaApiError) in
            _ = try long("max.compaction.lag.ms", value, min: 1)
        },
        TopicConfigDefinition(
            name: "max.message.bytes", type: .int, brokerSynonym: "message.max.bytes",
            documentation: "The largest record batch size allowed.",
            brokerValue: { String($0.messageMaxBytes) },
            brokerValueIsDefault: { $0.messageMaxBytes == BrokerConfig.Defaults.messageMaxBytes },
            apply: { config, value throws(KafkaApiError) in config.maxMessageBytes = try int("max.message.bytes", value, min: 0) }),
        accepted("message.downconversion.enable", .boolean, kafkaDefault: "true",
                 "Whether to down-convert for old consumers (no effect: batches are served as stored).") { value throws(KafkaApiError) in
            _ = try bool("message.downconversion.enable", value)
        },
        accepted("message.timestamp.difference.max.ms", .long, kafkaDefault: String(Int64.max),
                 "The largest difference allowed between a record's timestamp and the broker's clock (not checked).") { value throws(KafkaApiError) in
            _ = try long("message.timestamp.difference.max.ms", value, min: 0)
        },
        TopicConfigDefinition(
            name: "message.timestamp.type", type: .string, brokerSynonym: "log.message.timestamp.type",
            documentation: "Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).",
            brokerValue: { $0.logMessageTimestampType },
            brokerValueIsDefault: { $0.logMessageTimestampType == BrokerConfig.Defaults.logMessageTimestampType },
            apply: { config, value throws(KafkaApiError) in
                guard let type = TimestampType(rawValue: value) else {
                    throw invalid("message.timestamp.type", value, "String must be one of: CreateTime, LogAppendTime")
                }
                config.messageTimestampType = type
            }),
        TopicConfigDefinition(
            name: "min.cleanable.dirty.ratio", type: .double, brokerSynonym: "log.cleaner.min.cleanable.ratio",
            documentation: "The dirty ratio that triggers compaction.",
            brokerValue: { _ in "0.5" }, brokerValueIsDefault: { _ in true },
            apply: { config, value throws(KafkaApiError) in
                guard let ratio = Double(value), ratio >= 0, ratio <= 1 else {
                    throw invalid("min.cleanable.dirty.ratio", value, "Value must be between 0 and 1")
                }
                config.minCleanableDirtyRatio = ratio
            }),
        accepted("min.compaction.lag.ms", .long, kafkaDefault: "0",
                 "The minimum time a message remains uncompacted (no effect).") { value throws(KafkaApiError) in
            _ = try long("min.compaction.lag.ms", value, min: 0)
        },
        TopicConfigDefinition(
            name: "min.insync.replicas", type: .int, brokerSynonym: "min.insync.replicas",
            documentation: "With acks=all, the fewest in-sync replicas a write needs.",
            brokerValue: { String($0.minInsyncReplicas) },
            brokerValueIsDefault: { $0.minInsyncReplicas == BrokerConfig.Defaults.minInsyncReplicas },
            apply: { config, value throws(KafkaApiError) in
                config.minInsyncReplicas = Int32(try int("min.insync.replicas", value, min: 1))
            }),
        accepted("preallocate", .boolean, kafkaDefault: "false",
                 "Whether to preallocate segment files (the mmap storage always does).") { value throws(KafkaApiError) in
            _ = try bool("preallocate", value)
        },
        TopicConfigDefinition(
            name: "retention.bytes", type: .long, brokerSynonym: "log.retention.bytes",
            documentation: "The largest size a partition may grow to before old segments are deleted (-1: no limit).",
            brokerValue: { String($0.logRetentionBytes) },
            brokerValueIsDefault: { $0.logRetentionBytes == BrokerConfig.Defaults.logRetentionBytes },
            apply: { config, value throws(KafkaApiError) in config.retentionBytes = try long("retention.bytes", value, min: -1) }),
        TopicConfigDefinition(
            name: "retention.ms", type: .long, brokerSynonym: "log.retention.ms",
            documentation: "How long a segment is kept after its newest record before it is deleted (-1: forever).",
            brokerValue: { String($0.logRetentionMs) },
            brokerValueIsDefault: { $0.logRetentionMs == BrokerConfig.Defaults.logRetentionMs },
            apply: { config, value throws(KafkaApiError) in config.retentionMs = try long("retention.ms", value, min: -1) }),
        TopicConfigDefinition(
            name: "segment.bytes", type: .int, brokerSynonym: "log.segment.bytes",
            documentation: "The segment file size of the log.",
            brokerValue: { String($0.logSegmentBytes) },
            brokerValueIsDefault: { $0.logSegmentBytes == BrokerConfig.Defaults.logSegmentBytes },
            apply: { config, value throws(KafkaApiError) in config.segmentBytes = try int("segment.bytes", value, min: 14) }),
        TopicConfigDefinition(
            name: "segment.index.bytes", type: .int, brokerSynonym: "log.index.size.max.bytes",
            documentation: "The size of the index that maps offsets to file positions.",
            brokerValue: { String($0.logIndexSizeMaxBytes) },
            brokerValueIsDefault: { $0.logIndexSizeMaxBytes == BrokerConfig.Defaults.logIndexSizeMaxBytes },
            apply: { config, value throws(KafkaApiError) in config.segmentIndexBytes = try int("segment.index.bytes", value, min: 12) }),
        accepted("segment.jitter.ms", .long, kafkaDefault: "0",
                 "The maximum random jitter subtracted from segment.ms (not applied).") { value throws(KafkaApiError) in
            _ = try long("segment.jitter.ms", value, min: 0)
        },
        TopicConfigDefinition(
            name: "segment.ms", type: .long, brokerSynonym: "log.roll.ms",
            documentation: "Roll the active segment after this time even if it is not full.",
            brokerValue: { String($0.logRollMs) },
            brokerValueIsDefault: { $0.logRollMs == BrokerConfig.Defaults.logRollMs },
            apply: { config, value throws(KafkaApiError) in config.segmentMs = try long("segment.ms", value, min: 1) }),
        accepted("unclean.leader.election.enable", .boolean, kafkaDefault: "false",
                 "Whether replicas outside the ISR may become leader (never, in this engine).") { value throws(KafkaApiError) in
            _ = try bool("unclean.leader.election.enable", value)
        },
        TopicConfigDefinition(
            name: "compression.type", type: .string, brokerSynonym: "compression.type",
            documentation: "The compression of stored batches; only producer (keep the producer's) is supported.",
            brokerValue: { _ in "producer" }, brokerValueIsDefault: { _ in true },
            apply: { _, value throws(KafkaApiError) in
                guard value == "producer" else {
                    throw invalid("compression.type", value, "only producer is supported: the broker stores batches unchanged")
                }
            }),
    ].sorted { $0.name < $1.name }
}
