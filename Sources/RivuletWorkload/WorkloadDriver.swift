import NIOCore
import RivuletWire

/// What the workload runner drives: OMB's `BenchmarkDriver` in Swift. One adapter per system under
/// test (the embedded Rivulet cluster, an external Kafka cluster through the Rivulet client, the
/// in-memory reference `InMemoryWorkloadDriver`).
///
/// Isolation: implementations are `Sendable` and called from several tasks at once. The runner
/// creates topics, then consumers, then producers, and closes producers and consumers before
/// calling `close()`. Setup methods throw the driver's own errors; the runner reports them.
public protocol WorkloadDriver: Sendable {
    /// A short name for results (`driver` in OMB's result), such as `in-memory` or `kafka`.
    var name: String { get }

    /// Creates the topics; returns when they are ready to produce to.
    func createTopics(_ topics: [WorkloadTopic]) async throws

    /// Creates a producer bound to one topic with the spec's producer settings.
    func createProducer(_ info: WorkloadProducerInfo) async throws -> any WorkloadProducer

    /// Creates a consumer that joins `info.subscription` on `info.topic` and delivers what it
    /// receives to `handler`, batch by batch, until it is closed or killed.
    func createConsumer(_ info: WorkloadConsumerInfo, handler: @escaping WorkloadReceiveHandler) async throws -> any WorkloadConsumer

    /// Returns once the consumers created so far are ready to receive (their consumer groups have
    /// settled), or throws after `timeout`. The runner calls it after creating the consumers and
    /// before sending anything. Default: ready at once.
    func consumersReady(timeout: Duration) async throws

    /// The fault injector for broker faults, or nil when this target cannot inject faults
    /// (a spec with broker faults is then refused before anything starts).
    var faultInjector: (any WorkloadFaultInjector)? { get }

    /// Releases everything the driver holds. Called once, last.
    func close() async
}

extension WorkloadDriver {
    /// No fault injection unless the driver provides it.
    public var faultInjector: (any WorkloadFaultInjector)? { nil }

    /// Consumers are ready at once unless the driver says otherwise.
    public func consumersReady(timeout: Duration) async throws {}
}

/// A topic to create.
public struct WorkloadTopic: Sendable, Hashable {
    /// Topic name.
    public var name: String
    /// Number of partitions (>= 1).
    public var partitions: Int
    /// Replicas per partition (>= 1).
    public var replicationFactor: Int
    /// Topic `min.insync.replicas`.
    public var minInsyncReplicas: Int

    public init(name: String, partitions: Int, replicationFactor: Int, minInsyncReplicas: Int) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.minInsyncReplicas = minInsyncReplicas
    }
}

/// The producer settings of a spec, in Kafka's names and units.
public struct WorkloadProducerConfig: Sendable, Hashable {
    /// `acks`.
    public var acks: WorkloadAcks
    /// `linger.ms`.
    public var lingerMs: Int
    /// `batch.size` in bytes.
    public var batchSizeBytes: Int
    /// `compression.type`.
    public var compression: CompressionCodec

    public init(acks: WorkloadAcks = .all, lingerMs: Int = 5, batchSizeBytes: Int = 16384, compression: CompressionCodec = .none) {
        self.acks = acks
        self.lingerMs = lingerMs
        self.batchSizeBytes = batchSizeBytes
        self.compression = compression
    }

    /// The producer settings of `spec`.
    public init(spec: WorkloadSpec) {
        self.init(acks: spec.acks, lingerMs: spec.lingerMs, batchSizeBytes: spec.batchSizeBytes, compression: spec.compression)
    }
}

/// Which producer to create.
public struct WorkloadProducerInfo: Sendable, Hashable {
    /// 0-based index over all producers of the run.
    public var index: Int
    /// The topic it sends to.
    public var topic: String
    /// Producer settings.
    public var config: WorkloadProducerConfig

    public init(index: Int, topic: String, config: WorkloadProducerConfig) {
        self.index = index
        self.topic = topic
        self.config = config
    }
}

/// Which consumer to create: its identity (for `kill consumer N`) and what it subscribes to.
public struct WorkloadConsumerInfo: Sendable, Hashable {
    /// 0-based index over all consumers of the run, in creation order (topic, subscription,
    /// consumer), continued by consumers that `add consumer` faults create.
    public var index: Int
    /// The topic it reads.
    public var topic: String
    /// The subscription (consumer group id) it joins; consumers of one subscription share partitions.
    public var subscription: String

    public init(index: Int, topic: String, subscription: String) {
        self.index = index
        self.topic = topic
        self.subscription = subscription
    }
}

/// One record to send: an optional key and the value. Both are views into buffers the runner
/// shares across the batch; a driver may keep them (they are immutable) but must not assume they
/// own their storage.
public struct WorkloadRecord: Sendable {
    /// The key, or nil for no key.
    public var key: ByteBuffer?
    /// The value; its first 8 bytes are the intended send time (see `PayloadTimestamp`).
    public var value: ByteBuffer

    public init(key: ByteBuffer?, value: ByteBuffer) {
        self.key = key
        self.value = value
    }
}

/// Records handed to a producer in one call, in the order they were scheduled.
public struct WorkloadSendBatch: Sendable {
    /// The producer's topic.
    public var topic: String
    /// The records; `WorkloadSendResult.records` indexes into this array.
    public var records: [WorkloadRecord]

    public init(topic: String, records: [WorkloadRecord]) {
        self.topic = topic
        self.records = records
    }
}

/// Why a send failed, as the driver saw it.
public struct WorkloadSendError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A short stable code (a Kafka error name like `NOT_LEADER_OR_FOLLOWER`, or `TIMEOUT`, `CLOSED`).
    public var code: String
    /// Details for humans.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

/// The outcome of a contiguous run of records of one `WorkloadSendBatch`.
public struct WorkloadSendResult: Sendable {
    /// The indices in the batch this result covers.
    public var records: Range<Int>
    /// The partition the records went to, or -1 when unknown (a failure before partitioning).
    public var partition: Int32
    /// The offset of the first record, or -1 when unknown (`acks=0`, or a failure).
    public var baseOffset: Int64
    /// nil on success.
    public var error: WorkloadSendError?
    /// When the records completed, on the runner's clock (`EngineClock.monotonicNanoseconds`), for
    /// a driver that reports a run of completions after the fact; nil: the runner reads its clock
    /// when the completion is called.
    public var completedAtNanoseconds: UInt64?

    public init(records: Range<Int>, partition: Int32, baseOffset: Int64, error: WorkloadSendError? = nil,
                completedAtNanoseconds: UInt64? = nil) {
        self.records = records
        self.partition = partition
        self.baseOffset = baseOffset
        self.error = error
        self.completedAtNanoseconds = completedAtNanoseconds
    }
}

/// Called by a producer as records complete; see `WorkloadProducer.send`.
public typealias WorkloadSendCompletion = @Sendable (WorkloadSendResult) -> Void

/// A producer bound to one topic.
///
/// Contract of `send`: the call returns once the producer has accepted the batch (it may wait
/// for buffer space, as Kafka's `send` does when `buffer.memory` is full); `completion` is then
/// called, from any thread, one or more times, covering every index of the batch exactly once,
/// in any order. Call it per contiguous run (a partition's batch), not per record, when you can:
/// that is the hot path. A closed producer completes everything with an error.
public protocol WorkloadProducer: Sendable {
    /// Sends `batch`; see the contract above.
    func send(_ batch: WorkloadSendBatch, completion: @escaping WorkloadSendCompletion) async
    /// Flushes what it can and releases the producer; pending sends complete (with an error if they must).
    func close() async
}

/// Records a consumer received from one partition, in offset order.
public struct WorkloadReceivedBatch: Sendable {
    /// The topic.
    public var topic: String
    /// The partition.
    public var partition: Int32
    /// The offset of the first record, or -1 when unknown.
    public var baseOffset: Int64
    /// The record values.
    public var values: [ByteBuffer]

    public init(topic: String, partition: Int32, baseOffset: Int64, values: [ByteBuffer]) {
        self.topic = topic
        self.partition = partition
        self.baseOffset = baseOffset
        self.values = values
    }
}

/// Receives batches from a consumer. Called from any thread, possibly from several consumers at
/// once; the runner's handler is thread-safe and returns quickly (it only records measurements).
public typealias WorkloadReceiveHandler = @Sendable (WorkloadReceivedBatch) -> Void

/// A consumer in a subscription.
public protocol WorkloadConsumer: Sendable {
    /// Its `WorkloadConsumerInfo.index`.
    var index: Int { get }
    /// Stops fetching (Kafka `pause` on every assigned partition) without leaving the group.
    func pause() async
    /// Resumes fetching.
    func resume() async
    /// Leaves the group cleanly and releases the consumer.
    func close() async
    /// Stops abruptly without leaving the group, as a crashed process would (the group rebalances
    /// after the session timeout). Default: `close()`.
    func kill() async
}

extension WorkloadConsumer {
    public func kill() async { await close() }
}
