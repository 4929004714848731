/// The group coordinator's settings, with Kafka's broker config names, units and defaults (one
/// deliberate exception: `group.initial.rebalance.delay.ms`, see below).
public struct GroupCoordinatorConfig: Sendable, Hashable {
    /// `group.min.session.timeout.ms`: the shortest `session.timeout.ms` a member may ask for;
    /// shorter gets INVALID_SESSION_TIMEOUT. Default 6000.
    public var groupMinSessionTimeoutMs: Int32
    /// `group.max.session.timeout.ms`: the longest `session.timeout.ms` a member may ask for.
    /// Default 1,800,000.
    public var groupMaxSessionTimeoutMs: Int32
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for
    /// more members; each member arriving meanwhile extends it by this much again, up to the
    /// group's rebalance timeout.
    ///
    /// **Rivulet's default is 100 ms, Kafka's 3000 ms** (Kafka's own test configurations use 0).
    /// Rivulet is a benchmark engine: a harness starts all consumers of a subscription within a few
    /// milliseconds of each other, so 100 ms still gathers them into one generation (instead of one
    /// rebalance per consumer, each costing a heartbeat interval), while a lone consumer's first
    /// join completes in about 100 ms instead of 3 s. Set 0 for the fastest single-member join,
    /// 3000 for Kafka's behaviour.
    public var groupInitialRebalanceDelayMs: Int32
    /// `group.max.size`: the most members a group may have; a new member beyond it gets
    /// GROUP_MAX_SIZE_REACHED. Default `Int32.max` (no limit), as in Kafka.
    public var groupMaxSize: Int32
    /// The largest protocol metadata (the sum over a member's protocols) a JoinGroup may carry, in
    /// bytes; more gets MESSAGE_TOO_LARGE, because it could not be stored in the group's record.
    /// Not a Kafka setting (Kafka fails later, when the record is too large). Default 256 KiB.
    public var groupMemberMetadataBytesMax: Int
    /// `offset.metadata.max.bytes`: the longest metadata string of a committed offset; longer gets
    /// OFFSET_METADATA_TOO_LARGE. Default 4096.
    public var offsetMetadataMaxBytes: Int
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`. Default 50.
    public var offsetsTopicNumPartitions: Int32
    /// `offsets.topic.replication.factor`: replicas of `__consumer_offsets` (capped at the number of
    /// brokers). Default 3.
    public var offsetsTopicReplicationFactor: Int16
    /// `offsets.topic.segment.bytes`: segment size of `__consumer_offsets`. Kafka's default is
    /// 100 MiB; Rivulet's is 16 MiB because the mmap backend preallocates every active segment
    /// (50 partitions x 100 MiB would reserve 5 GiB of disk for a few kilobytes of offsets).
    public var offsetsTopicSegmentBytes: Int
    /// `delete.retention.ms` of the offsets topic: how long tombstones stay. Default 1 day.
    public var deleteRetentionMs: Int64

    /// The internal topic holding committed offsets and group metadata.
    public static let offsetsTopicName = "__consumer_offsets"

    /// Kafka's defaults (except the documented initial rebalance delay and offsets segment size).
    public init(groupMinSessionTimeoutMs: Int32 = 6000,
                groupMaxSessionTimeoutMs: Int32 = 1_800_000,
                groupInitialRebalanceDelayMs: Int32 = 100,
                groupMaxSize: Int32 = .max,
                groupMemberMetadataBytesMax: Int = 256 * 1024,
                offsetMetadataMaxBytes: Int = 4096,
                offsetsTopicNumPartitions: Int32 = 50,
                offsetsTopicReplicationFactor: Int16 = 3,
                offsetsTopicSegmentBytes: Int = 16 * 1024 * 1024,
                deleteRetentionMs: Int64 = 86_400_000) {
        self.groupMinSessionTimeoutMs = groupMinSessionTimeoutMs
        self.groupMaxSessionTimeoutMs = groupMaxSessionTimeoutMs
        self.groupInitialRebalanceDelayMs = groupInitialRebalanceDelayMs
        self.groupMaxSize = groupMaxSize
        self.groupMemberMetadataBytesMax = groupMemberMetadataBytesMax
        self.offsetMetadataMaxBytes = offsetMetadataMaxBytes
        self.offsetsTopicNumPartitions = offsetsTopicNumPartitions
        self.offsetsTopicReplicationFactor = offsetsTopicReplicationFactor
        self.offsetsTopicSegmentBytes = offsetsTopicSegmentBytes
        self.deleteRetentionMs = deleteRetentionMs
    }

    /// The settings `set(_:_:)` accepts, by Kafka's names.
    public static let settingNames = [
        "group.initial.rebalance.delay.ms", "group.max.session.timeout.ms", "group.max.size", "group.min.session.timeout.ms",
        "offset.metadata.max.bytes", "offsets.topic.num.partitions", "offsets.topic.replication.factor",
        "offsets.topic.segment.bytes",
    ]

    /// Sets one setting by Kafka's name (for `--config key=value`). Returns false for a name that is
    /// not a group setting; throws `GroupConfigError` for a value out of range.
    public mutating func set(_ name: String, _ value: String) throws(GroupConfigError) -> Bool {
        func number<T: FixedWidthInteger>(_: T.Type, min: T) throws(GroupConfigError) -> T {
            guard let parsed = T(value), parsed >= min else {
                throw GroupConfigError(name: name, value: value, reason: "expected an integer of at least \(min)")
            }
            return parsed
        }
        switch name {
        case "group.initial.rebalance.delay.ms": groupInitialRebalanceDelayMs = try number(Int32.self, min: 0)
        case "group.max.session.timeout.ms": groupMaxSessionTimeoutMs = try number(Int32.self, min: 1)
        case "group.max.size": groupMaxSize = try number(Int32.self, min: 1)
        case "group.min.session.timeout.ms": groupMinSessionTimeoutMs = try number(Int32.self, min: 1)
        case "offset.metadata.max.bytes": offsetMetadataMaxBytes = try number(Int.self, min: 0)
        case "offsets.topic.num.partitions": offsetsTopicNumPartitions = try number(Int32.self, min: 1)
        case "offsets.topic.replication.factor": offsetsTopicReplicationFactor = try number(Int16.self, min: 1)
        case "offsets.topic.segment.bytes": offsetsTopicSegmentBytes = try number(Int.self, min: 14)
        default: return false
        }
        if groupMinSessionTimeoutMs > groupMaxSessionTimeoutMs {
            throw GroupConfigError(name: name, value: value,
                                   reason: "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms")
        }
        return true
    }

    /// The `__consumer_offsets` partition that holds `groupId`: Kafka's
    /// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, with Java's `String.hashCode`
    /// over UTF-16 code units and `Utils.abs(Int.MIN_VALUE) == 0`.
    public func offsetsPartition(for groupId: String) -> Int32 {
        Self.offsetsPartition(for: groupId, partitions: offsetsTopicNumPartitions)
    }

    /// `offsetsPartition(for:)` for a given partition count (at least 1).
    public static func offsetsPartition(for groupId: String, partitions: Int32) -> Int32 {
        var hash: Int32 = 0
        for unit in groupId.utf16 { hash = hash &* 31 &+ Int32(unit) }
        let positive = hash == .min ? 0 : abs(hash)
        return positive % max(1, partitions)
    }
}

/// A group coordinator setting with a bad value.
public struct GroupConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String
    public var reason: String

    public var description: String { "\(name)=\(value): \(reason)" }
}
