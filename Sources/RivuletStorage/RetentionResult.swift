/// Why retention deleted a segment.
public enum RetentionReason: String, Sendable, Hashable {
    /// The segment's newest timestamp is older than `retention.ms`.
    case retentionMs = "retention.ms"
    /// The log was larger than `retention.bytes` with the segment.
    case retentionBytes = "retention.bytes"
    /// Every offset in the segment is below the log start offset (after `deleteRecords`).
    case logStartOffset = "log start offset"
}

/// One segment removed from a log.
public struct DeletedSegment: Sendable, Hashable {
    /// The segment's base offset (its file name).
    public var baseOffset: Int64
    /// The offset after its last batch.
    public var nextOffset: Int64
    /// Its size in bytes.
    public var sizeBytes: Int
    /// Why it was deleted.
    public var reason: RetentionReason

    public init(baseOffset: Int64, nextOffset: Int64, sizeBytes: Int, reason: RetentionReason) {
        self.baseOffset = baseOffset
        self.nextOffset = nextOffset
        self.sizeBytes = sizeBytes
        self.reason = reason
    }
}

/// What one retention pass deleted.
public struct RetentionResult: Sendable, Hashable {
    /// The segments deleted, oldest first.
    public var deletedSegments: [DeletedSegment]
    /// The log start offset after the pass.
    public var logStartOffset: Int64

    public init(deletedSegments: [DeletedSegment], logStartOffset: Int64) {
        self.deletedSegments = deletedSegments
        self.logStartOffset = logStartOffset
    }

    /// Bytes freed by the pass.
    public var deletedBytes: Int { deletedSegments.reduce(0) { $0 + $1.sizeBytes } }
}
