/// How a flush makes data durable.
public enum FlushSyscall: String, Sendable, Hashable, CaseIterable {
    /// `fsync(2)`: data and all metadata (Kafka's `FileChannel.force(true)`).
    case fsync
    /// `fdatasync(2)`: data and the metadata needed to read it back (sizes), not timestamps.
    case fdatasync
}

/// The settings of one partition log, with Kafka's topic-config names and units, and Kafka's defaults.
///
/// `LogConfig()` is Kafka's default topic configuration; `validate()` checks ranges. Sizes are bytes,
/// times are milliseconds; `-1` disables a retention limit, as in Kafka.
public struct LogConfig: Sendable, Hashable {
    /// `segment.bytes`: roll to a new segment before the active one would exceed this many bytes.
    /// At most `Int32.max`, because index entries hold 32-bit positions. Default 1 GiB.
    public var segmentBytes: Int
    /// `segment.ms`: roll when the active segment's first batch is this much older than the batch
    /// being appended (record timestamps; the segment's creation time when batches carry none).
    /// Default 7 days.
    public var segmentMs: Int64
    /// `segment.index.bytes`: the largest offset or time index per segment; a full index rolls the
    /// segment. Default 10 MiB.
    public var segmentIndexBytes: Int
    /// `index.interval.bytes`: bytes appended between two sparse index entries. Default 4096.
    public var indexIntervalBytes: Int
    /// `retention.bytes`: delete the oldest segments while the log is larger than this; -1 disables.
    /// Default -1.
    public var retentionBytes: Int64
    /// `retention.ms`: delete segments whose newest timestamp is older than this; -1 disables.
    /// Default 7 days.
    public var retentionMs: Int64
    /// `flush.messages`: flush once this many messages (offsets) are not yet durable; 1 flushes every
    /// batch. Default `Int64.max` (leave it to the operating system).
    public var flushMessages: Int64
    /// `flush.ms`: flush when the last flush is this old (checked on append and by `flushIfDue`).
    /// Default `Int64.max`.
    public var flushMs: Int64
    /// The system call a flush uses. Not a Kafka setting (Kafka always uses fsync). Default fsync.
    public var flushSyscall: FlushSyscall
    /// `max.message.bytes`: the largest batch accepted. Default 1,048,588 (1 MiB plus the log overhead).
    public var maxMessageBytes: Int
    /// The broker's `log.flush.offset.checkpoint.interval.ms`: the shortest time between two writes of
    /// the recovery-point checkpoint file (it is also written on roll, truncation, deleteRecords and
    /// close). Default 60 s.
    public var recoveryPointCheckpointIntervalMs: Int64

    /// Kafka's defaults.
    public init(segmentBytes: Int = 1_073_741_824,
                segmentMs: Int64 = 604_800_000,
                segmentIndexBytes: Int = 10_485_760,
                indexIntervalBytes: Int = 4096,
                retentionBytes: Int64 = -1,
                retentionMs: Int64 = 604_800_000,
                flushMessages: Int64 = .max,
                flushMs: Int64 = .max,
                flushSyscall: FlushSyscall = .fsync,
                maxMessageBytes: Int = 1_048_588,
                recoveryPointCheckpointIntervalMs: Int64 = 60_000) {
        self.segmentBytes = segmentBytes
        self.segmentMs = segmentMs
        self.segmentIndexBytes = segmentIndexBytes
        self.indexIntervalBytes = indexIntervalBytes
        self.retentionBytes = retentionBytes
        self.retentionMs = retentionMs
        self.flushMessages = flushMessages
        self.flushMs = flushMs
        self.flushSyscall = flushSyscall
        self.maxMessageBytes = maxMessageBytes
        self.recoveryPointCheckpointIntervalMs = recoveryPointCheckpointIntervalMs
    }

    /// Checks every setting's range (Kafka's `LogConfig` validators). Throws `StorageError.invalidConfig`.
    public func validate() throws(StorageError) {
        func check(_ ok: Bool, _ name: String, _ value: some BinaryInteger, _ reason: String) throws(StorageError) {
            if !ok { throw .invalidConfig(name: name, value: "\(value)", reason: reason) }
        }
        try check(segmentBytes >= 14 && segmentBytes <= Int(Int32.max), "segment.bytes", segmentBytes,
                  "must be between 14 and \(Int32.max)")
        try check(segmentMs >= 1, "segment.ms", segmentMs, "must be at least 1")
        try check(segmentIndexBytes >= 12 && segmentIndexBytes <= Int(Int32.max), "segment.index.bytes",
                  segmentIndexBytes, "must be between 12 and \(Int32.max)")
        try check(indexIntervalBytes >= 0, "index.interval.bytes", indexIntervalBytes, "must not be negative")
        try check(retentionBytes >= -1, "retention.bytes", retentionBytes, "must be -1 (unlimited) or more")
        try check(retentionMs >= -1, "retention.ms", retentionMs, "must be -1 (unlimited) or more")
        try check(flushMessages >= 1, "flush.messages", flushMessages, "must be at least 1")
        try check(flushMs >= 0, "flush.ms", flushMs, "must not be negative")
        try check(maxMessageBytes >= 0, "max.message.bytes", maxMessageBytes, "must not be negative")
        try check(recoveryPointCheckpointIntervalMs >= 0, "log.flush.offset.checkpoint.interval.ms",
                  recoveryPointCheckpointIntervalMs, "must not be negative")
    }

    /// Entries that fit in one offset index (8 bytes each).
    var offsetIndexEntriesMax: Int { segmentIndexBytes / OffsetIndex.entrySize }
    /// Entries that fit in one time index (12 bytes each).
    var timeIndexEntriesMax: Int { segmentIndexBytes / TimeIndex.entrySize }
}
