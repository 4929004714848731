/// The answer to a ListOffsets lookup: an offset and the timestamp that selected it.
public struct TimestampAndOffset: Sendable, Hashable {
    /// The timestamp found (a batch's `maxTimestamp`), or -1 for the earliest and latest lookups.
    public var timestampMs: Int64
    /// The offset to fetch from.
    public var offset: Int64

    public init(timestampMs: Int64, offset: Int64) {
        self.timestampMs = timestampMs
        self.offset = offset
    }

    /// Kafka's special target timestamps for ListOffsets.
    public enum Special {
        /// -1: the log end offset.
        public static let latestTimestamp: Int64 = -1
        /// -2: the log start offset.
        public static let earliestTimestamp: Int64 = -2
        /// -3: the batch holding the largest timestamp (KIP-734).
        public static let maxTimestamp: Int64 = -3
    }
}
