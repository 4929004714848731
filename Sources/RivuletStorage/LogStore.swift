import NIOCore
import RivuletWire

/// The log of one partition: Kafka record batches v2 stored back to back in segments, addressed by offset.
///
/// Stored bytes are exactly the batches' bytes (Kafka's on-disk log format). A log is split into
/// segments named by their base offset, each with a sparse offset index and time index; old segments
/// go by retention, the newest (active) one takes appends.
///
/// **Isolation**: a log store is owned by one partition and is not thread-safe. Call it from one
/// isolation domain at a time (the partition's actor or event loop); it never blocks on anything but
/// its own file I/O and never calls back. Time comes from the `EngineClock` given to its engine.
///
/// **Errors**: every method throws `StorageError`. After an I/O failure during a write the log turns
/// failed (`.logFailed`): close it and reopen it through the engine, which runs crash recovery.
public protocol LogStore: AnyObject {
    /// The partition this log belongs to.
    var topicPartition: TopicPartition { get }

    /// The first offset that can be read (it moves with retention and `deleteRecords`).
    var logStartOffset: Int64 { get }

    /// The offset the next appended record gets (one past the last stored offset).
    var logEndOffset: Int64 { get }

    /// The offset below which everything is known to be durable (flushed); at most `logEndOffset`.
    var recoveryPoint: Int64 { get }

    /// Bytes stored across all segments.
    var sizeBytes: Int64 { get }

    /// What opening the log found and repaired (empty for a new or in-memory log).
    var recoveryReport: RecoveryReport { get }

    /// Appends one whole batch.
    ///
    /// With `assignOffsets` (a leader's append) the store writes `baseOffset = logEndOffset` into the
    /// stored bytes (outside the CRC; the caller's buffer is not modified). Without it (a follower
    /// replicating its leader) the batch's own base offset must equal `logEndOffset`.
    /// The batch is checked before anything is written: framing, magic, CRC-32C and header fields
    /// (`.invalidBatch`), size against `max.message.bytes` (`.batchTooLarge`). Rolls the segment when
    /// `segment.bytes` or `segment.ms` says so, and flushes when the flush policy says so.
    ///
    /// With `partitionLeaderEpoch` (a leader's append) the store also writes that epoch into the stored
    /// bytes (outside the CRC, like the base offset), so the caller need not copy the batch to stamp it;
    /// nil keeps the batch's own epoch (a follower's append).
    ///
    /// With `checksumVerified` the caller states that it has just checked this batch's CRC
    /// (`RecordBatch.validate()`, as a broker does for every produced batch); the store then skips its
    /// own CRC pass over the bytes (the header checks still run). The bytes cannot have changed in
    /// between: a `RecordBatch` holds a `ByteBuffer`, a value.
    func append(_ batch: RecordBatch, assignOffsets: Bool, partitionLeaderEpoch: Int32?,
                checksumVerified: Bool) throws(StorageError) -> LogAppendInfo

    /// Appends every batch in `records` (a Produce request's or a Fetch response's `records` field),
    /// all or nothing as far as validation goes: one invalid batch rejects the whole set before any
    /// is written. Offsets are assigned or checked as for a single batch, batch after batch.
    func append(records: ByteBuffer, assignOffsets: Bool) throws(StorageError) -> LogAppendInfo

    /// Reads whole stored batches, starting with the batch that holds `offset`.
    ///
    /// Returns batches from one segment, back to back, up to `maxBytes` in total, but always at least
    /// one whole batch when one exists (KIP-74), and none whose last offset is at or beyond
    /// `maxOffset` (the high watermark, for consumers; nil for followers, who read to the log end).
    /// `offset == logEndOffset` (or `>= maxOffset`) returns no bytes. Throws `.offsetOutOfRange` when
    /// `offset < logStartOffset` or `offset > logEndOffset`.
    func read(from offset: Int64, maxBytes: Int, maxOffset: Int64?) throws(StorageError) -> LogReadResult

    /// Removes every batch at and after `offset` (a follower diverging from its leader), including
    /// inside a segment; later segments are deleted. A batch that holds `offset` is removed whole, so
    /// the log end offset becomes that batch's base offset. `offset <= logStartOffset` empties the log
    /// and restarts it at `offset`; `offset >= logEndOffset` does nothing. Returns the new log end offset.
    @discardableResult
    func truncate(to offset: Int64) throws(StorageError) -> Int64

    /// Deletes every segment and starts an empty log at `offset`, which may lie beyond the log end
    /// (Kafka's `truncateFullyAndStartAt`: a follower whose log ends below its leader's log start).
    /// Afterwards the log start and end offsets are both `offset`; negative offsets throw
    /// `.offsetOutOfRange`.
    func truncateFullyAndStartAt(_ offset: Int64) throws(StorageError)

    /// Advances the log start offset to `offset` (Kafka's DeleteRecords) and deletes the segments
    /// entirely below it, never the active one. Lower offsets change nothing; `offset > logEndOffset`
    /// throws `.offsetOutOfRange`. Returns the log start offset afterwards (the low watermark).
    @discardableResult
    func deleteRecords(before offset: Int64) throws(StorageError) -> Int64

    /// Kafka's ListOffsets: the earliest batch whose `maxTimestamp >= timestampMs`, found with the time
    /// and offset indexes; the offset returned is that batch's base offset (or the log start offset if
    /// later). Special targets: -1 latest (log end offset), -2 earliest (log start offset), -3 the batch
    /// with the largest timestamp. Returns nil when no batch is that recent.
    func offset(forTimestamp timestampMs: Int64) throws(StorageError) -> TimestampAndOffset?

    /// Deletes the oldest segments that break `retention.ms` or `retention.bytes` (whichever limit is
    /// reached first), then those below the log start offset. Never deletes the active segment, nor one
    /// holding offsets at or above `highWatermark` (when given). The broker calls this periodically.
    func enforceRetention(nowMs: Int64, highWatermark: Int64?) throws(StorageError) -> RetentionResult

    /// Makes everything appended so far durable with the configured `flushSyscall` and advances
    /// `recoveryPoint` to `logEndOffset`. A no-op for bytes (not for the recovery point) in memory.
    func flush() throws(StorageError)

    /// Flushes when the time-based policy (`flush.ms`) says the last flush is too old. Returns whether it
    /// flushed. The broker calls this periodically; appends check it themselves.
    @discardableResult
    func flushIfDue(nowMs: Int64) throws(StorageError) -> Bool

    /// Flushes, writes the indexes and the recovery checkpoint, trims preallocated files and releases
    /// files and memory mappings. Every later call throws `.logClosed`. Closing twice is allowed.
    func close() throws(StorageError)
}

extension LogStore {
    /// `append(_:assignOffsets:partitionLeaderEpoch:checksumVerified:)` keeping the batch's own
    /// partition leader epoch and checking its CRC.
    @inlinable
    public func append(_ batch: RecordBatch, assignOffsets: Bool) throws(StorageError) -> LogAppendInfo {
        try append(batch, assignOffsets: assignOffsets, partitionLeaderEpoch: nil, checksumVerified: false)
    }

    /// `append(_:assignOffsets:partitionLeaderEpoch:checksumVerified:)` checking the batch's CRC.
    @inlinable
    public func append(_ batch: RecordBatch, assignOffsets: Bool, partitionLeaderEpoch: Int32?) throws(StorageError) -> LogAppendInfo {
        try append(batch, assignOffsets: assignOffsets, partitionLeaderEpoch: partitionLeaderEpoch, checksumVerified: false)
    }

    /// `read(from:maxBytes:maxOffset:)` up to the log end (a follower's read).
    @inlinable
    public func read(from offset: Int64, maxBytes: Int) throws(StorageError) -> LogReadResult {
        try read(from: offset, maxBytes: maxBytes, maxOffset: nil)
    }

    /// `enforceRetention(nowMs:highWatermark:)` without a high watermark bound.
    @inlinable
    public func enforceRetention(nowMs: Int64) throws(StorageError) -> RetentionResult {
        try enforceRetention(nowMs: nowMs, highWatermark: nil)
    }
}
