import NIOCore

/// What one read returned: whole stored batches, back to back, exactly as stored.
public struct LogReadResult: Sendable {
    /// The batches' bytes (Kafka's `records` field). Empty at the log end or at `maxOffset`.
    /// May share storage with the log (never with the part still being appended to).
    public var records: ByteBuffer
    /// Batches in `records`.
    public var batchCount: Int
    /// The base offset of the first batch, or nil when `records` is empty. It can be below the
    /// requested offset: reads start with the whole batch that holds it, and consumers skip the rest.
    public var firstOffset: Int64?
    /// The offset after the last batch returned (the requested offset when nothing was returned).
    public var nextOffset: Int64
    /// The log start offset at the time of the read.
    public var logStartOffset: Int64
    /// The log end offset at the time of the read.
    public var logEndOffset: Int64

    public init(records: ByteBuffer, batchCount: Int, firstOffset: Int64?, nextOffset: Int64,
                logStartOffset: Int64, logEndOffset: Int64) {
        self.records = records
        self.batchCount = batchCount
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.logStartOffset = logStartOffset
        self.logEndOffset = logEndOffset
    }
}
