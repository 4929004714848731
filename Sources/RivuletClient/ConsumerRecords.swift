import NIOCore
import RivuletWire

/// One consumed record with its topic and partition. A view into the fetched bytes: creating it
/// copies nothing and allocates nothing.
public struct ConsumerRecord: Sendable {
    /// The topic.
    public let topic: String
    /// The partition.
    public let partition: Int32
    /// The record: offset, timestamp, key, value, headers.
    public let record: Record

    @inlinable
    public init(topic: String, partition: Int32, record: Record) {
        self.topic = topic
        self.partition = partition
        self.record = record
    }

    /// The record's offset.
    @inlinable public var offset: Int64 { record.offset }
    /// The record's timestamp in ms since the epoch (CreateTime or LogAppendTime).
    @inlinable public var timestampMs: Int64 { record.timestampMs }
    /// The key, or nil for a null key (a slice of the fetched bytes).
    @inlinable public var key: ByteBuffer? { record.key }
    /// The value, or nil for a tombstone (a slice of the fetched bytes).
    @inlinable public var value: ByteBuffer? { record.value }
    /// The headers, decoded as iterated.
    public var headers: RecordHeaders { record.headers }
    /// The topic and partition.
    public var topicPartition: TopicAndPartition { TopicAndPartition(topic: topic, partition: partition) }
}

/// The records one `poll` returned: whole record batches per partition, decoded only as they are
/// iterated (`forEach`), so a poll costs a few allocations whatever its record count.
///
/// Batches were checked (framing, and CRC-32C when `check.crcs`) when polled; a record that is
/// malformed inside a batch with a valid CRC makes `forEach` throw `ClientError.corruptRecords`.
public struct ConsumerRecords: Sendable {
    /// The batches of one partition in this poll.
    public struct PartitionRecords: Sendable {
        /// The topic and partition.
        public let partition: TopicAndPartition
        /// The batches, in offset order.
        public let batches: [RecordBatch]
        /// Records below this offset are skipped (the position when polled: a batch can start
        /// before it).
        public let fromOffset: Int64
        /// The position after these records.
        public let nextOffset: Int64
        /// The partition's high watermark when fetched (for lag).
        public let highWatermark: Int64
    }

    /// The partitions' records, in the order their fetches completed.
    public let partitions: [PartitionRecords]
    /// The records, counted from the batch headers (minus those skipped below `fromOffset`).
    public let count: Int
    let verifyChecksums: Bool
    let decompressedBytesMax: Int
    let context: CompressionContext?

    init(partitions: [PartitionRecords], count: Int, verifyChecksums: Bool, decompressedBytesMax: Int, context: CompressionContext?) {
        self.partitions = partitions
        self.count = count
        self.verifyChecksums = verifyChecksums
        self.decompressedBytesMax = decompressedBytesMax
        self.context = context
    }

    /// No records.
    public static let empty = ConsumerRecords(partitions: [], count: 0, verifyChecksums: false,
                                              decompressedBytesMax: RecordBatchLimits.decompressedBytesMax, context: nil)

    /// Whether the poll returned no records.
    public var isEmpty: Bool { count == 0 }

    /// Calls `body` with every record in order (per partition, offset order). Allocates nothing per
    /// record; compressed batches are decompressed into the consumer's reusable scratch memory.
    /// Not generic on purpose: a generic entry point called from another module runs unspecialized,
    /// looking up type metadata for every record.
    ///
    /// - Throws: `ClientError.corruptRecords` for a malformed record, or what `body` throws.
    public func forEach(_ body: (ConsumerRecord) throws -> Void) throws {
        for chunk in partitions {
            let topic = chunk.partition.topic
            let partition = chunk.partition.partition
            try Self.forEach(in: chunk, verifyChecksums: verifyChecksums, decompressedBytesMax: decompressedBytesMax,
                             context: context) { (record: consuming Record) in
                // The record view moves into its `ConsumerRecord`: no copy (a retain and a release) per record.
                try body(ConsumerRecord(topic: topic, partition: partition, record: record))
            }
        }
    }

    /// Calls `body` with every record of `chunk` at or above its `fromOffset`.
    static func forEach(in chunk: PartitionRecords, verifyChecksums: Bool, decompressedBytesMax: Int,
                        context: CompressionContext?, _ body: (consuming Record) throws -> Void) throws {
        let from = chunk.fromOffset
        for batch in chunk.batches {
            var failure: (any Error)?
            do throws(RecordBatchError) {
                try batch.forEachRecord(verifyChecksum: verifyChecksums, decompressedBytesMax: decompressedBytesMax,
                                        context: context) { (record: consuming Record) throws(RecordBatchError) in
                    guard failure == nil, record.offset >= from else { return }
                    do { try body(record) } catch { failure = error }
                }
            } catch {
                throw ClientError.corruptRecords(chunk.partition, reason: error.description)
            }
            if let failure { throw failure }
        }
    }

    /// Every record in an array (allocates; for tests and tools).
    public func records() throws(ClientError) -> [ConsumerRecord] {
        var result: [ConsumerRecord] = []
        result.reserveCapacity(count)
        do {
            try forEach { result.append($0) }
        } catch let error as ClientError {
            throw error
        } catch {
            throw .corruptRecords(partitions.first?.partition ?? TopicAndPartition(topic: "", partition: -1), reason: "\(error)")
        }
        return result
    }
}
