import NIOCore
import RivuletWire

/// A committed offset of one partition, as a group holds it.
public struct CommittedOffset: Sendable, Hashable {
    /// The next offset the group will consume.
    public var offset: Int64
    /// The leader epoch of the last consumed record, or -1.
    public var leaderEpoch: Int32
    /// The client's metadata string (Kafka stores "" for null).
    public var metadata: String
    /// When the commit was made, in milliseconds since the epoch.
    public var commitTimestampMs: Int64

    public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestampMs: Int64) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestampMs = commitTimestampMs
    }
}

/// A topic partition named by topic and partition index (group state keys).
public struct GroupTopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    public var description: String { "\(topic)-\(partition)" }
}

/// One record of `__consumer_offsets` in Kafka's own format, so Kafka's tools read it:
/// the key is an int16 record type (1 offset commit, 2 group metadata; 0 is the legacy offset
/// commit type) followed by `OffsetCommitKey` / `GroupMetadataKey`; the value is an int16 version
/// followed by `OffsetCommitValue` / `GroupMetadataValue`, or null (a tombstone: the offset or the
/// group was deleted).
public enum OffsetsTopicRecord: Sendable, Hashable {
    /// A committed offset (nil value: deleted).
    case offsetCommit(group: String, topic: String, partition: Int32, value: OffsetCommitValue?)
    /// A group's membership snapshot (nil value: the group was deleted).
    case groupMetadata(group: String, value: GroupMetadataValue?)

    /// The value version Rivulet writes for offsets: 3 (leader epoch, no expire timestamp), which
    /// every Kafka version since 2.1 reads.
    public static let offsetCommitValueVersion: Int16 = 3
    /// The value version Rivulet writes for group metadata: 3 (static members).
    public static let groupMetadataValueVersion: Int16 = 3

    /// The group the record belongs to.
    public var group: String {
        switch self {
        case let .offsetCommit(group, _, _, _): group
        case let .groupMetadata(group, _): group
        }
    }

    /// The record key's bytes.
    public var key: ByteBuffer {
        var buffer = ByteBuffer()
        switch self {
        case let .offsetCommit(group, topic, partition, _):
            buffer.writeInteger(OffsetCommitKey.coordinatorRecordType)
            OffsetCommitKey(group: group, topic: topic, partition: partition).encode(into: &buffer, version: 0)
        case let .groupMetadata(group, _):
            buffer.writeInteger(GroupMetadataKey.coordinatorRecordType)
            GroupMetadataKey(group: group).encode(into: &buffer, version: 0)
        }
        return buffer
    }

    /// The record value's bytes, or nil for a tombstone.
    public var value: ByteBuffer? {
        switch self {
        case let .offsetCommit(_, _, _, value):
            value?.versionPrefixed(version: Self.offsetCommitValueVersion)
        case let .groupMetadata(_, value):
            value?.versionPrefixed(version: Self.groupMetadataValueVersion)
        }
    }

    /// Decodes a record read back from the topic. Returns nil for a record type this coordinator
    /// does not know (Kafka's newer consumer-group records), which replay skips.
    ///
    /// - Throws: `WireError` for a key or value that is not in Kafka's format.
    public init?(key: ByteBuffer, value: ByteBuffer?) throws {
        var key = key
        guard let type = key.readInteger(as: Int16.self) else {
            throw WireError.truncated(field: "__consumer_offsets key type", needed: 2, available: key.readableBytes)
        }
        switch type {
        case 0, OffsetCommitKey.coordinatorRecordType:
            let decoded = try OffsetCommitKey(from: &key, version: 0)
            var commit: OffsetCommitValue?
            if var value {
                commit = try OffsetCommitValue.decodeVersionPrefixed(&value, readingNewerAsLatest: true).value
            }
            self = .offsetCommit(group: decoded.group, topic: decoded.topic, partition: decoded.partition, value: commit)
        case GroupMetadataKey.coordinatorRecordType:
            let decoded = try GroupMetadataKey(from: &key, version: 0)
            var metadata: GroupMetadataValue?
            if var value {
                metadata = try GroupMetadataValue.decodeVersionPrefixed(&value, readingNewerAsLatest: true).value
            }
            self = .groupMetadata(group: decoded.group, value: metadata)
        default:
            return nil
        }
    }
}
