import NIOCore
import RivuletWire

/// What one partition remembers about idempotent producers: for each producer id its epoch and its
/// last five batches (sequence range and offsets), so that a retried batch is recognised and answered
/// with its original offsets instead of being stored twice (Kafka's `ProducerStateManager`).
///
/// Rules (Kafka 2.5+, KIP-360): a batch repeating one of the last five of the same epoch is a
/// duplicate; an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0; in
/// the same epoch the base sequence must follow the last one (wrapping after `Int32.max`), else
/// OUT_OF_ORDER_SEQUENCE_NUMBER; a producer the partition does not know may start anywhere.
///
/// A value type owned by one `Partition` (under its lock). It is rebuilt from batch headers when a
/// log opens, or loaded from the snapshot written at a clean shutdown.
public struct ProducerStateManager: Sendable, Hashable {
    /// How many batches per producer are remembered for duplicate detection (Kafka: 5, the most
    /// requests an idempotent producer may have in flight).
    public static let batchesRetained = 5

    /// The sequence and offset range of one appended batch.
    public struct BatchMetadata: Sendable, Hashable {
        /// The batch's base sequence.
        public var firstSequence: Int32
        /// The sequence of its last record.
        public var lastSequence: Int32
        /// The offset it was stored at.
        public var firstOffset: Int64
        /// The offset of its last record.
        public var lastOffset: Int64
        /// Its max timestamp (milliseconds).
        public var timestampMs: Int64
    }

    /// One producer's state.
    public struct ProducerEntry: Sendable, Hashable {
        /// The epoch of the producer's latest batch.
        public var epoch: Int16
        /// The last batches, oldest first, at most `batchesRetained`.
        public var batches: [BatchMetadata]
        /// The timestamp of the producer's latest batch, for expiration.
        public var lastTimestampMs: Int64
    }

    /// What to do with an incoming batch.
    public enum Decision: Sendable, Hashable {
        /// Store it.
        case append
        /// It was stored before; answer with these offsets and store nothing.
        case duplicate(BatchMetadata)
    }

    /// The producers, by producer id.
    public private(set) var producers: [Int64: ProducerEntry] = [:]

    public init() {}

    /// The last sequence of a batch: `baseSequence + lastOffsetDelta`, wrapping after `Int32.max`.
    public static func lastSequence(baseSequence: Int32, lastOffsetDelta: Int32) -> Int32 {
        if baseSequence > Int32.max - lastOffsetDelta {
            return lastOffsetDelta - (Int32.max - baseSequence) - 1
        }
        return baseSequence + lastOffsetDelta
    }

    static func inSequence(last: Int32, next: Int32) -> Bool {
        next == last &+ 1 || (next == 0 && last == Int32.max)
    }

    /// Checks a batch of an idempotent producer (producerId >= 0) against the producer's state.
    /// Batches without a producer id are always appended.
    ///
    /// - Throws: INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_RECORD (negative sequence).
    public func check(_ header: RecordBatchHeader) throws(KafkaApiError) -> Decision {
        guard header.producerId >= 0 else { return .append }
        guard header.baseSequence >= 0 else {
            throw KafkaApiError(.invalidRecord, "Invalid sequence number \(header.baseSequence) for producer \(header.producerId)")
        }
        guard let entry = producers[header.producerId] else { return .append }
        let lastSequence = Self.lastSequence(baseSequence: header.baseSequence, lastOffsetDelta: header.lastOffsetDelta)
        if header.producerEpoch == entry.epoch,
           let duplicate = entry.batches.first(where: { $0.firstSequence == header.baseSequence && $0.lastSequence == lastSequence }) {
            return .duplicate(duplicate)
        }
        if header.producerEpoch < entry.epoch {
            throw KafkaApiError(.invalidProducerEpoch,
                                "Epoch of producer \(header.producerId) is \(header.producerEpoch), which is smaller than the last seen epoch \(entry.epoch)")
        }
        if header.producerEpoch != entry.epoch {
            guard header.baseSequence == 0 else {
                throw KafkaApiError(.outOfOrderSequenceNumber,
                                    "Invalid sequence number for new epoch of producer \(header.producerId): \(header.producerEpoch) (request epoch), \(header.baseSequence) (seq. number), \(entry.epoch) (current producer epoch)")
            }
        } else if let last = entry.batches.last, !Self.inSequence(last: last.lastSequence, next: header.baseSequence) {
            throw KafkaApiError(.outOfOrderSequenceNumber,
                                "Out of order sequence number for producer \(header.producerId): \(header.baseSequence) (incoming seq. number), \(last.lastSequence) (current end sequence number)")
        }
        return .append
    }

    /// Records a stored batch of an idempotent producer (after an append, or while rebuilding the
    /// state from a log). Batches without a producer id are ignored.
    public mutating func record(_ header: RecordBatchHeader, firstOffset: Int64, lastOffset: Int64) {
        guard header.producerId >= 0, header.baseSequence >= 0 else { return }
        let metadata = BatchMetadata(
            firstSequence: header.baseSequence,
            lastSequence: Self.lastSequence(baseSequence: header.baseSequence, lastOffsetDelta: header.lastOffsetDelta),
            firstOffset: firstOffset, lastOffset: lastOffset, timestampMs: header.maxTimestamp)
        var entry = producers[header.producerId] ?? ProducerEntry(epoch: header.producerEpoch, batches: [], lastTimestampMs: -1)
        if header.producerEpoch != entry.epoch {
            entry.epoch = header.producerEpoch
            entry.batches.removeAll()
        }
        entry.batches.append(metadata)
        if entry.batches.count > Self.batchesRetained { entry.batches.removeFirst(entry.batches.count - Self.batchesRetained) }
        entry.lastTimestampMs = max(entry.lastTimestampMs, header.maxTimestamp)
        producers[header.producerId] = entry
    }

    /// Forgets producers whose latest batch is older than `expirationMs` (`producer.id.expiration.ms`).
    public mutating func removeExpired(nowMs: Int64, expirationMs: Int64) {
        // Timestamps come from producers and may be anything; compare without overflowing.
        let (cutoff, overflow) = nowMs.subtractingReportingOverflow(expirationMs)
        let threshold = overflow ? Int64.min : cutoff
        producers = producers.filter { $0.value.lastTimestampMs > threshold }
    }

    /// Forgets batches at and after `offset` (the log was truncated there).
    public mutating func truncate(from offset: Int64) {
        for (producerId, var entry) in producers {
            entry.batches.removeAll { $0.lastOffset >= offset }
            producers[producerId] = entry.batches.isEmpty ? nil : entry
        }
    }

    // MARK: Snapshot encoding

    /// Writes the state (for the snapshot written at a clean shutdown).
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(producers.count))
        for (producerId, entry) in producers.sorted(by: { $0.key < $1.key }) {
            buffer.writeInteger(producerId)
            buffer.writeInteger(entry.epoch)
            buffer.writeInteger(entry.lastTimestampMs)
            buffer.writeInteger(Int32(entry.batches.count))
            for batch in entry.batches {
                buffer.writeInteger(batch.firstSequence)
                buffer.writeInteger(batch.lastSequence)
                buffer.writeInteger(batch.firstOffset)
                buffer.writeInteger(batch.lastOffset)
                buffer.writeInteger(batch.timestampMs)
            }
        }
    }

    /// Reads a state written by `encode`. Throws `WireError` on malformed bytes.
    init(decoding buffer: inout ByteBuffer) throws {
        let count = try buffer.readKafkaInteger(Int32.self, field: "producer count")
        guard count >= 0, Int(count) <= buffer.readableBytes / 22 else {
            throw WireError.invalidLength(field: "producer count", length: Int(count))
        }
        for _ in 0 ..< count {
            let producerId = try buffer.readKafkaInteger(Int64.self, field: "producer id")
            let epoch = try buffer.readKafkaInteger(Int16.self, field: "producer epoch")
            let lastTimestampMs = try buffer.readKafkaInteger(Int64.self, field: "producer timestamp")
            let batchCount = try buffer.readKafkaInteger(Int32.self, field: "batch count")
            guard batchCount >= 0, batchCount <= Int32(Self.batchesRetained) else {
                throw WireError.invalidLength(field: "batch count", length: Int(batchCount))
            }
            var batches: [BatchMetadata] = []
            for _ in 0 ..< batchCount {
                batches.append(BatchMetadata(
                    firstSequence: try buffer.readKafkaInteger(Int32.self, field: "first sequence"),
                    lastSequence: try buffer.readKafkaInteger(Int32.self, field: "last sequence"),
                    firstOffset: try buffer.readKafkaInteger(Int64.self, field: "first offset"),
                    lastOffset: try buffer.readKafkaInteger(Int64.self, field: "last offset"),
                    timestampMs: try buffer.readKafkaInteger(Int64.self, field: "timestamp")))
            }
            producers[producerId] = ProducerEntry(epoch: epoch, batches: batches, lastTimestampMs: lastTimestampMs)
        }
    }
}
