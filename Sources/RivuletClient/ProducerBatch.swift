import NIOCore
import RivuletWire

/// The outcome of one produced record.
public struct RecordMetadata: Hashable, Sendable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition the record went to.
    public var partition: Int32
    /// The record's offset, or -1 with `acks=0` (the broker does not say).
    public var offset: Int64
    /// The record's timestamp: its CreateTime, or the broker's LogAppendTime when the topic uses it.
    public var timestampMs: Int64

    public init(topic: String, partition: Int32, offset: Int64, timestampMs: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMs = timestampMs
    }

    public var description: String { "\(topic)-\(partition)@\(offset)" }
}

/// Called once per record with its outcome, on an arbitrary thread (keep it short).
public typealias ProducerCompletion = @Sendable (Result<RecordMetadata, ClientError>) -> Void

/// One batch of one partition, from its first record to its outcome.
///
/// Isolation: while open or queued, a batch is touched only under the accumulator's lock. The
/// sender builds its bytes outside the lock after taking it out of every queue (no other party
/// can reach it then), and stores them back under the lock. Hence `@unchecked Sendable`.
final class ProducerBatch: @unchecked Sendable {
    let partition: TopicAndPartition
    /// The records, appended in place. (Exclusivity is guaranteed by the accumulator's lock or by
    /// the sender's sole ownership; the dynamic checks cost too much on the append path.)
    @exclusivity(unchecked) var builder: RecordBatchBuilder
    /// Per-record callbacks by offset delta, in delta order; empty when no record asked for one.
    @exclusivity(unchecked) var completions: [(delta: Int32, timestampMs: Int64, completion: ProducerCompletion)] = []
    /// When the first record was appended (monotonic): linger and delivery timeout count from here.
    let createdNanoseconds: UInt64
    /// Identifies the batch for `flush()`; split pieces keep their parent's id.
    let id: UInt64
    /// The batch's place in its partition's order (creation order; split pieces subdivide their
    /// parent's interval `[orderKey, orderKey + orderSpan)`), so retries go back in order.
    var orderKey: Double
    var orderSpan: Double = 1
    /// Bytes charged against `buffer.memory`.
    @exclusivity(unchecked) var accountedBytes = 0
    /// Sends so far.
    var attempts = 0
    /// Not before this time (retry backoff), monotonic.
    var retryAtNanoseconds: UInt64 = 0
    /// The first record's sequence once assigned (idempotent producers), else -1.
    var baseSequence: Int32 = -1
    /// The producer id and epoch the sequence belongs to.
    var producerId: Int64 = -1
    var producerEpoch: Int16 = -1
    /// The built bytes, kept for retries; nil until first drained or after a re-sequencing.
    var built: RecordBatch?
    /// Set when the batch is requeued after a failure (or is a piece of a split): until it is
    /// acknowledged its partition sends one batch at a time, so order is kept.
    var mustGoAlone = false
    /// Whether the batch was sent at least once (so the broker may have it).
    var wasSent = false
    /// Set (under the accumulator's lock) when the outcome is decided; later outcomes are ignored.
    var isComplete = false

    /// A batch from an accumulator's open batch (it moves the builder and callbacks).
    convenience init(_ partition: TopicAndPartition, _ open: RecordAccumulator.OpenBatch) {
        self.init(partition: partition, builder: open.builder, createdNanoseconds: open.createdNanoseconds, id: open.id)
        completions = open.completions
    }

    init(partition: TopicAndPartition, builder: RecordBatchBuilder, createdNanoseconds: UInt64, id: UInt64) {
        self.partition = partition
        self.builder = builder
        self.createdNanoseconds = createdNanoseconds
        self.id = id
        orderKey = Double(id)
    }

    var recordCount: Int { builder.recordCount }

    /// The size of the batch as last built, or its estimate.
    var sizeBytes: Int { built?.buffer.readableBytes ?? builder.estimatedSizeBytes }

    /// Completes every record successfully: offsets from `baseOffset`, timestamps from the batch
    /// (or `logAppendTimeMs` when the broker stamped one).
    func succeed(baseOffset: Int64, logAppendTimeMs: Int64) {
        for (delta, timestampMs, completion) in completions {
            let timestamp = logAppendTimeMs >= 0 ? logAppendTimeMs : timestampMs
            completion(.success(RecordMetadata(topic: partition.topic, partition: partition.partition,
                                               offset: baseOffset >= 0 ? baseOffset + Int64(delta) : -1, timestampMs: timestamp)))
        }
        completions = []
    }

    /// Completes every record with `error`.
    func fail(_ error: ClientError) {
        for (_, _, completion) in completions { completion(.failure(error)) }
        completions = []
    }
}
