import NIOCore
import RivuletClient
import RivuletCore
import RivuletWire
import Synchronization

/// A `WorkloadProducer` over the Rivulet client's `Producer` (its own `ClusterClient`, so its own
/// connections, like a separate Kafka producer process).
///
/// Partitioning: records with a key go to Kafka's murmur2 partition (what the client would pick);
/// records without one stick to a partition until `batch.size` bytes or `linger.ms` have gone to
/// it, then move to the next partition (KIP-480's sticky partitioning, round robin instead of
/// random). The driver names the partition of every record itself so that completions, which the
/// client delivers per partition in send order, map back to record indices without a closure per
/// record: one completion closure per partition per `send` call.
///
/// Hot path: per record, one `Producer.send` (which appends bytes under a lock) and no
/// allocation by the driver; per `send` call, a `SendTracker` and a few small arrays.
final class KafkaWorkloadProducer: WorkloadProducer {
    let index: Int
    let topic: String
    let producer: Producer
    let partitionCount: Int
    let clock: any EngineClock
    private let sticky: Mutex<StickyState>
    private let stickyBytesMax: Int
    private let stickyNanosecondsMax: UInt64

    private struct StickyState {
        var partition: Int32
        var bytes = 0
        var sinceNanoseconds: UInt64
        var closed = false
    }

    init(index: Int, topic: String, producer: Producer, partitionCount: Int, clock: any EngineClock) {
        self.index = index
        self.topic = topic
        self.producer = producer
        self.partitionCount = max(1, partitionCount)
        self.clock = clock
        stickyBytesMax = max(1, producer.config.batchSizeBytes)
        stickyNanosecondsMax = UInt64(max(1, producer.config.lingerMs)) * 1_000_000
        sticky = Mutex(StickyState(partition: Int32(index % max(1, partitionCount)), sinceNanoseconds: clock.monotonicNanoseconds()))
    }

    func send(_ batch: WorkloadSendBatch, completion: @escaping WorkloadSendCompletion) async {
        let count = batch.records.count
        guard count > 0 else { return }
        guard let partitions = assignPartitions(batch.records) else {
            completion(WorkloadSendResult(records: 0 ..< count, partition: -1, baseOffset: -1,
                                          error: WorkloadSendError(code: "CLOSED", message: "producer \(index) is closed")))
            return
        }
        let tracker = SendTracker(partitions: partitions, partitionCount: partitionCount, clock: clock, completion: completion)
        var callbacks = [ProducerCompletion?](repeating: nil, count: partitionCount)
        for recordIndex in 0 ..< count {
            let partition = partitions[recordIndex]
            let callback: ProducerCompletion
            if let existing = callbacks[Int(partition)] {
                callback = existing
            } else {
                callback = { [tracker] result in tracker.completed(partition: partition, result) }
                callbacks[Int(partition)] = callback
            }
            let record = batch.records[recordIndex]
            do throws(ClientError) {
                try await producer.send(topic: topic, partition: partition, key: record.key, value: record.value, completion: callback)
            } catch {
                tracker.failedBeforeSending(index: recordIndex, partition: partition, error: error)
            }
        }
    }

    /// The partition of each record, or nil when the producer is closed.
    private func assignPartitions(_ records: [WorkloadRecord]) -> [Int32]? {
        var partitions = [Int32](repeating: 0, count: records.count)
        let now = clock.monotonicNanoseconds()
        let partitionCount = partitionCount
        return sticky.withLock { state -> [Int32]? in
            guard !state.closed else { return nil }
            for (position, record) in records.enumerated() {
                if let key = record.key {
                    partitions[position] = key.withUnsafeReadableBytes {
                        Partitioner.partition(forKey: $0, partitionCount: partitionCount)
                    }
                    continue
                }
                if state.bytes >= stickyBytesMax || (state.bytes > 0 && now &- state.sinceNanoseconds >= stickyNanosecondsMax) {
                    state.partition = Int32((Int(state.partition) + 1) % partitionCount)
                    state.bytes = 0
                    state.sinceNanoseconds = now
                }
                if state.bytes == 0 { state.sinceNanoseconds = now }
                partitions[position] = state.partition
                state.bytes += record.value.readableBytes + (record.key?.readableBytes ?? 0)
            }
            return partitions
        }
    }

    func close() async {
        sticky.withLock { $0.closed = true }
        await producer.close(timeoutMs: 10_000)
        await producer.cluster.close()
    }
}

/// Maps the client's per-record completions of one `send` call back to record indices and
/// reports them to the runner in contiguous runs.
///
/// The client completes the records of one partition in the order they were sent, so the k-th
/// completion of partition p is the k-th record of the call that went to p. Consecutive
/// completions of consecutive records with consecutive offsets, arriving within
/// `coalesceNanosecondsMax` of the run's first, form one run, reported with the run's first
/// completion time (`completedAtNanoseconds`) when the next completion does not extend it, or when
/// the call's last record completes. A record the client refused before buffering is reported at
/// once as an error and skipped.
final class SendTracker: Sendable {
    /// Completions further apart than this start a new run (the latency error a run may carry).
    static let coalesceNanosecondsMax: UInt64 = 100_000

    private struct Run {
        var lower: Int
        var upper: Int
        var partition: Int32
        var baseOffset: Int64
        var nextOffset: Int64
        var atNanoseconds: UInt64
    }

    private struct State {
        /// Record indices grouped by partition, in record order within each partition.
        var order: [Int32]
        /// Per partition: the next position in `order` and the end of its group.
        var next: [Int32]
        var end: [Int32]
        /// Records refused before buffering (they get no completion from the client).
        var skipped: [Bool]?
        var pending: Run?
        var done = 0
    }

    private let state: Mutex<State>
    private let count: Int
    private let clock: any EngineClock
    private let completion: WorkloadSendCompletion

    init(partitions: [Int32], partitionCount: Int, clock: any EngineClock, completion: @escaping WorkloadSendCompletion) {
        count = partitions.count
        self.clock = clock
        self.completion = completion
        // Counting sort of the record indices by partition.
        var sizes = [Int32](repeating: 0, count: partitionCount)
        for partition in partitions { sizes[Int(partition)] += 1 }
        var next = [Int32](repeating: 0, count: partitionCount)
        var running: Int32 = 0
        for partition in 0 ..< partitionCount {
            next[partition] = running
            running += sizes[partition]
        }
        var end = next
        var order = [Int32](repeating: 0, count: partitions.count)
        for (index, partition) in partitions.enumerated() {
            order[Int(end[Int(partition)])] = Int32(index)
            end[Int(partition)] += 1
        }
        state = Mutex(State(order: order, next: next, end: end))
    }

    /// A record refused by `Producer.send` before it was buffered: reported now, skipped later.
    func failedBeforeSending(index: Int, partition: Int32, error: ClientError) {
        let flushed = state.withLock { state -> Run? in
            if state.skipped == nil { state.skipped = [Bool](repeating: false, count: count) }
            state.skipped?[index] = true
            state.done += 1
            if state.done == count {
                defer { state.pending = nil }
                return state.pending
            }
            return nil
        }
        if let flushed { report(flushed) }
        completion(WorkloadSendResult(records: index ..< index + 1, partition: partition, baseOffset: -1,
                                      error: Self.sendError(error), completedAtNanoseconds: clock.monotonicNanoseconds()))
    }

    /// The client completed the next record of `partition`.
    func completed(partition: Int32, _ result: Result<RecordMetadata, ClientError>) {
        let now = clock.monotonicNanoseconds()
        var failedIndex = -1
        let (flushed, last) = state.withLock { state -> (Run?, Run?) in
            let slot = Int(partition)
            guard slot < state.next.count else { return (nil, nil) }
            var position = state.next[slot]
            while position < state.end[slot], let skipped = state.skipped, skipped[Int(state.order[Int(position)])] { position += 1 }
            // More completions than records: never expected; ignore rather than misreport.
            guard position < state.end[slot] else { return (nil, nil) }
            state.next[slot] = position + 1
            state.done += 1
            let index = Int(state.order[Int(position)])
            var flushed: Run?
            switch result {
            case .success(let metadata):
                let offset = metadata.offset
                if var run = state.pending, run.partition == partition, run.upper == index,
                   run.nextOffset == (offset < 0 ? -1 : offset), now &- run.atNanoseconds <= Self.coalesceNanosecondsMax {
                    run.upper += 1
                    if offset >= 0 { run.nextOffset = offset + 1 }
                    state.pending = run
                } else {
                    flushed = state.pending
                    state.pending = Run(lower: index, upper: index + 1, partition: partition, baseOffset: offset,
                                        nextOffset: offset < 0 ? -1 : offset + 1, atNanoseconds: now)
                }
            case .failure:
                flushed = state.pending
                state.pending = nil
                failedIndex = index
            }
            var last: Run?
            if state.done == count {
                last = state.pending
                state.pending = nil
            }
            return (flushed, last)
        }
        if let flushed { report(flushed) }
        if failedIndex >= 0, case .failure(let error) = result {
            completion(WorkloadSendResult(records: failedIndex ..< failedIndex + 1, partition: partition, baseOffset: -1,
                                          error: Self.sendError(error), completedAtNanoseconds: now))
        }
        if let last { report(last) }
    }

    private func report(_ run: Run) {
        completion(WorkloadSendResult(records: run.lower ..< run.upper, partition: run.partition, baseOffset: run.baseOffset,
                                      completedAtNanoseconds: run.atNanoseconds))
    }

    /// A client error as the runner's send error: Kafka's error name when the broker gave one.
    static func sendError(_ error: ClientError) -> WorkloadSendError {
        let code: String
        switch error {
        case .broker:
            code = error.kafkaErrorCode?.name ?? "BROKER_ERROR"
        case .transport: code = "NETWORK_EXCEPTION"
        case .connectionFailed: code = "CONNECTION_FAILED"
        case .timedOut: code = "TIMEOUT"
        case .recordTooLarge: code = "RECORD_TOO_LARGE"
        case .unknownTopic: code = "UNKNOWN_TOPIC_OR_PARTITION"
        case .invalidPartition: code = "INVALID_PARTITION"
        case .closed: code = "CLOSED"
        default: code = "CLIENT_ERROR"
        }
        return WorkloadSendError(code: code, message: error.description)
    }
}
