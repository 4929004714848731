/// What one append stored: the offsets it was given and where its bytes went.
public struct LogAppendInfo: Sendable, Hashable {
    /// The base offset of the first batch appended.
    public var firstOffset: Int64
    /// The last offset of the last batch appended.
    public var lastOffset: Int64
    /// The largest batch `maxTimestamp` among the batches appended (milliseconds; -1 when none carries one).
    public var maxTimestampMs: Int64
    /// The last offset of the batch holding `maxTimestampMs` (-1 when there is no timestamp).
    public var offsetOfMaxTimestamp: Int64
    /// Records appended (the sum of the batches' `recordCount`).
    public var recordCount: Int
    /// Batches appended.
    public var batchCount: Int
    /// Bytes appended.
    public var sizeBytes: Int
    /// The base offset of the segment that received the first batch.
    public var segmentBaseOffset: Int64
    /// The byte position of the first batch in that segment.
    public var position: Int
    /// The log start offset after the append.
    public var logStartOffset: Int64
    /// The log end offset after the append (`lastOffset + 1`).
    public var logEndOffset: Int64
    /// Whether the append is already durable (the flush policy flushed it before returning).
    public var isFlushed: Bool

    public init(firstOffset: Int64, lastOffset: Int64, maxTimestampMs: Int64, offsetOfMaxTimestamp: Int64,
                recordCount: Int, batchCount: Int, sizeBytes: Int, segmentBaseOffset: Int64, position: Int,
                logStartOffset: Int64, logEndOffset: Int64, isFlushed: Bool) {
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.maxTimestampMs = maxTimestampMs
        self.offsetOfMaxTimestamp = offsetOfMaxTimestamp
        self.recordCount = recordCount
        self.batchCount = batchCount
        self.sizeBytes = sizeBytes
        self.segmentBaseOffset = segmentBaseOffset
        self.position = position
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
        self.isFlushed = isFlushed
    }
}
