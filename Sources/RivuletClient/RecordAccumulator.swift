import DequeModule
import NIOCore
import RivuletCore
import RivuletWire
import Synchronization

/// The producer's per-partition batches: where `send` appends records and where the sender takes
/// batches from. All state sits behind one `Mutex`; appending a record is that lock plus writing
/// its bytes into the partition's open `RecordBatchBuilder` (no allocation per record unless the
/// record has a completion).
///
/// Order: a partition's batches are sent in the order they were closed; with idempotence each gets
/// the next sequence when first drained, and a batch being retried goes out alone, ahead of
/// later ones, so the broker appends them in sequence order.
@usableFromInline
final class RecordAccumulator: Sendable {
    /// The batch a partition's records are appended to. A value inside the accumulator's state,
    /// so an append mutates it in place without retaining any object; it becomes a
    /// `ProducerBatch` when it is closed.
    struct OpenBatch {
        var builder: RecordBatchBuilder
        var completions: [(delta: Int32, timestampMs: Int64, completion: ProducerCompletion)] = []
        let createdNanoseconds: UInt64
        let id: UInt64
    }

    /// One partition's batches.
    struct PartitionState {
        let partition: TopicAndPartition
        /// The leader's node id (-1 unknown), from the last metadata the sender saw.
        var leader: Int32 = -1
        /// The leader's epoch from that metadata (-1 unknown), written into batch headers.
        var leaderEpoch: Int32 = -1
        /// The batch records are appended to.
        var open: OpenBatch?
        /// The open batch's `estimatedSizeBytes`, or -1 without one: the fit check reads this
        /// integer instead of reaching into the batch.
        var openSizeBytes = -1
        /// The `buffer.memory` bytes the open batch holds.
        var openAccountedBytes = 0
        /// Closed batches waiting to be sent, oldest (lowest sequence) first; retries are put back
        /// at the front in sequence order.
        var queue = Deque<ProducerBatch>()
        /// Batches sent and not yet answered, in send order.
        var inflight: [ProducerBatch] = []
        /// The next sequence to assign (idempotence).
        var nextSequence: Int32 = 0
        /// Codec contexts reused by every batch of the partition.
        var compressionContext: CompressionContext?
        /// The builder of the last completed batch, emptied, for the next batch (at most one per
        /// partition, so at most `batch.size` bytes per partition are kept beyond `buffer.memory`).
        var spareBuilder: RecordBatchBuilder?

        init(partition: TopicAndPartition) {
            self.partition = partition
        }

        /// Whether a record of `size` bytes goes into the open batch (false when there is none).
        @inline(__always)
        func fitsOpenBatch(size: Int, batchSizeBytes: Int) -> Bool {
            openSizeBytes >= 0 && (openSizeBytes <= RecordBatchLayout.headerSize || openSizeBytes + size <= batchSizeBytes)
        }

        /// Installs a new, empty open batch.
        mutating func open(_ batch: OpenBatch) {
            openSizeBytes = batch.builder.estimatedSizeBytes
            openAccountedBytes = 0
            open = batch
        }

        /// Appends to the open batch in place. Returns the offset delta and whether the batch is
        /// now full for another record of this size; nil when there is no open batch.
        @inline(__always)
        mutating func appendToOpenBatch(size: Int, batchSizeBytes: Int, timestampMs: Int64, key: UnsafeRawBufferPointer?,
                                        value: UnsafeRawBufferPointer?, headers: [RecordHeader],
                                        completion: ProducerCompletion?) throws(RecordBatchError) -> (delta: Int32, full: Bool)? {
            // Optional chaining mutates the stored batch in place (no copy of the builder).
            guard let delta = try open?.builder.append(timestampMs: timestampMs, key: key, value: value, headers: headers) else {
                return nil
            }
            openAccountedBytes += size
            if let completion { open?.completions.append((delta, timestampMs, completion)) }
            openSizeBytes = open?.builder.estimatedSizeBytes ?? -1
            return (delta, openSizeBytes + size > batchSizeBytes)
        }

        /// Turns the open batch into a queued `ProducerBatch`.
        mutating func closeOpenBatch() {
            guard let batch = takeOpenBatch() else { return }
            queue.append(batch)
        }

        /// Removes the open batch and returns it as a `ProducerBatch`.
        mutating func takeOpenBatch() -> ProducerBatch? {
            guard let open = open.take() else { return nil }
            openSizeBytes = -1
            let batch = ProducerBatch(partition, open)
            batch.accountedBytes = openAccountedBytes
            openAccountedBytes = 0
            return batch
        }
    }

    /// One topic: where its partitions are, and its sticky partition.
    struct TopicState {
        let name: String
        /// `slots[p]` is partition p's index in `State.partitions`.
        var slots: [Int] = []
        /// The partition records without a key go to, or -1 (KIP-480).
        var stickyPartition: Int32 = -1
    }

    struct FlushWaiter {
        let threshold: UInt64
        var remaining: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    struct MemoryWaiter {
        let id: UInt64
        let bytes: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    struct State {
        var topics: [TopicState] = []
        var topicIndex: [String: Int] = [:]
        /// Every partition of every topic, flat, so an append touches one array element.
        var partitions: [PartitionState] = []
        /// The topic of the last append: the common case skips the dictionary.
        var lastTopicName = ""
        var lastTopicIndex = -1
        var bufferedBytes = 0
        var memoryWaiters = Deque<MemoryWaiter>()
        var nextMemoryWaiterID: UInt64 = 0
        var flushWaiters: [FlushWaiter] = []
        /// Batches created and not yet completed (for flush).
        var incompleteBatches = 0
        var nextBatchID: UInt64 = 0
        var flushing = 0
        var closing = false
        var closed = false
        var random: SeededGenerator
        /// The wall clock for record timestamps (see `WallClockMillisecondCache`).
        var wallClock = WallClockMillisecondCache()
        var inflightPerNode: [Int32: Int] = [:]
        /// Whether sequences are used (turned off when idempotence was only a default and the
        /// broker lacks InitProducerId).
        var idempotent: Bool
        /// Idempotence: the producer id and epoch in use (-1 until InitProducerId answered).
        var producerId: Int64 = -1
        var producerEpoch: Int16 = -1
        /// Set when a sent batch failed for good: sequences must restart under a new producer id
        /// once nothing is in flight.
        var producerIdResetNeeded = false
        var inflightBatchCount = 0
        /// Where the sender's scan starts next (fairness across partitions).
        var drainCursor = 0
    }

    let config: ProducerConfig
    let clock: any EngineClock
    /// Whether `clock` is the system clock, whose wall time `append` then reads through
    /// `State.wallClock` (a cycle-counter cache) rather than per record from the clock.
    let usesSystemClock: Bool
    let state: Mutex<State>
    /// Signalled when the sender may have something to do.
    @usableFromInline let senderWakeup = Wakeup()

    init(config: ProducerConfig, idempotent: Bool, clock: any EngineClock, randomSeed: UInt64) {
        self.config = config
        self.clock = clock
        usesSystemClock = clock is SystemClock
        state = Mutex(State(random: SeededGenerator(seed: randomSeed), idempotent: idempotent))
    }

    // MARK: Appending

    @usableFromInline
    enum AppendResult {
        /// Appended; `wake` says whether the sender should look (new or full batch).
        case appended(wake: Bool)
        /// The topic is not known yet: fetch its metadata and call again.
        case needsTopic
        /// Not enough `buffer.memory`: wait for `bytes` to be free and call again.
        case needsMemory(bytes: Int)
    }

    /// Appends one record under the lock. The key and value are raw bytes (nil is null); a nil
    /// `timestampMs` is the clock's now, read once the record is known to be appended.
    @usableFromInline
    func append(topic: String, partition explicitPartition: Int32?, timestampMs requestedTimestampMs: Int64?,
                key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [RecordHeader],
                completion: ProducerCompletion?, ignoreMemoryLimit: Bool) throws(ClientError) -> AppendResult {
        // The result is small and errors are thrown: the common path returns a few bytes.
        try state.withLock { (state: inout State) throws(ClientError) -> AppendResult in
            if state.closing || state.closed { throw .closed }
            let t: Int
            if state.lastTopicIndex >= 0, state.lastTopicName == topic {
                t = state.lastTopicIndex
            } else if let found = state.topicIndex[topic] {
                t = found
                state.lastTopicIndex = found
                state.lastTopicName = topic
            } else {
                return .needsTopic
            }
            let partitionCount = state.topics[t].slots.count
            // Metadata that lists a topic without partitions (a broker's bad answer) is no topic yet:
            // the slow path waits for better metadata, up to max.block.ms.
            guard partitionCount > 0 else { return .needsTopic }
            var partition: Int32
            var sticky = false
            if let explicitPartition {
                guard explicitPartition >= 0, Int(explicitPartition) < partitionCount else {
                    throw .invalidPartition(topic: topic, partition: explicitPartition, partitionCount: partitionCount)
                }
                partition = explicitPartition
            } else if let key, !config.partitionerIgnoreKeys {
                partition = Partitioner.partition(forKey: key, partitionCount: partitionCount)
            } else {
                sticky = true
                partition = state.topics[t].stickyPartition
            }

            let size = Self.recordSizeBound(keyLength: key?.count, valueLength: value?.count, headers: headers)
            if size + RecordBatchLayout.headerSize > config.maxRequestSizeBytes {
                throw .recordTooLarge(sizeBytes: size, limitBytes: config.maxRequestSizeBytes, config: "max.request.size")
            }
            if size > config.bufferMemoryBytes {
                throw .recordTooLarge(sizeBytes: size, limitBytes: config.bufferMemoryBytes, config: "buffer.memory")
            }
            if !ignoreMemoryLimit, state.bufferedBytes + size > config.bufferMemoryBytes {
                return .needsMemory(bytes: size)
            }
            let batchSizeBytes = config.batchSizeBytes

            // KIP-480: a record without a key moves the sticky partition when it would open a batch.
            if sticky {
                let reusable = partition >= 0 && Int(partition) < partitionCount
                    && state.partitions[state.topics[t].slots[Int(partition)]].fitsOpenBatch(size: size, batchSizeBytes: batchSizeBytes)
                if !reusable {
                    let available = state.topics[t].slots.map { state.partitions[$0].leader >= 0 }
                    partition = Partitioner.nextStickyPartition(previous: partition, partitionCount: partitionCount,
                                                                available: available, random: &state.random)
                    state.topics[t].stickyPartition = partition
                }
            }

            let slot = state.topics[t].slots[Int(partition)]
            var wake = false
            if !state.partitions[slot].fitsOpenBatch(size: size, batchSizeBytes: batchSizeBytes) {
                state.partitions[slot].closeOpenBatch()
                var context = state.partitions[slot].compressionContext
                if context == nil, config.compression != .none {
                    context = CompressionContext()
                    state.partitions[slot].compressionContext = context
                }
                // A builder returned by a completed batch keeps its grown buffer: no allocation, and
                // no page faults on fresh memory, per batch.
                let builder: RecordBatchBuilder
                if let spare = state.partitions[slot].spareBuilder.take() {
                    builder = spare
                } else {
                    builder = RecordBatchBuilder(compression: config.compression, compressionLevel: config.compressionLevel,
                                                 initialCapacityBytes: max(batchSizeBytes, size + RecordBatchLayout.headerSize),
                                                 compressionContext: context)
                }
                state.nextBatchID += 1
                state.incompleteBatches += 1
                state.partitions[slot].open(OpenBatch(builder: builder, createdNanoseconds: clock.monotonicNanoseconds(),
                                                      id: state.nextBatchID))
                wake = true
            }
            let timestampMs = requestedTimestampMs
                ?? (usesSystemClock ? state.wallClock.milliseconds() : clock.wallMilliseconds())
            // Append in place: no object is retained and nothing is allocated.
            let appended: (delta: Int32, full: Bool)?
            do {
                appended = try state.partitions[slot].appendToOpenBatch(
                    size: size, batchSizeBytes: batchSizeBytes, timestampMs: timestampMs, key: key, value: value, headers: headers,
                    completion: completion)
            } catch {
                throw .recordTooLarge(sizeBytes: size, limitBytes: RecordBatchBuilder.batchBytesMax, config: "batch format")
            }
            guard let appended else { throw .closed }
            state.bufferedBytes += size
            if appended.full {
                // Full for a record like this one: close it now, so the sender need not wait for linger.
                state.partitions[slot].closeOpenBatch()
                wake = true
            }
            return .appended(wake: wake)
        }
    }

    /// An upper bound of a record's size in a batch (its length varint included): the deltas are
    /// counted at their largest, so the bound holds wherever in a batch the record lands.
    @inline(__always)
    static func recordSizeBound(keyLength: Int?, valueLength: Int?, headers: [RecordHeader]) -> Int {
        @inline(__always) func varintSize(_ value: Int) -> Int {
            var zigzag = UInt64(bitPattern: Int64((value << 1) ^ (value >> 63)))
            var bytes = 1
            while zigzag >= 0x80 { zigzag >>= 7; bytes += 1 }
            return bytes
        }
        var body = 1 + 10 + 5 // attributes, timestamp delta (varlong), offset delta (varint)
        if let keyLength { body += varintSize(keyLength) + keyLength } else { body += 1 }
        if let valueLength { body += varintSize(valueLength) + valueLength } else { body += 1 }
        body += varintSize(headers.count)
        for header in headers {
            let keyLength = header.key.utf8.count
            body += varintSize(keyLength) + keyLength
            if let valueLength = header.valueLength { body += varintSize(valueLength) + valueLength } else { body += 1 }
        }
        return varintSize(body) + body
    }

    /// Registers a topic's partition count (after metadata arrived); grows it when partitions were
    /// added. Returns whether the topic is now known.
    func register(topic: TopicMetadata) {
        state.withLock { state in
            let t: Int
            if let existing = state.topicIndex[topic.name] {
                t = existing
            } else {
                t = state.topics.count
                state.topics.append(TopicState(name: topic.name))
                state.topicIndex[topic.name] = t
            }
            while state.topics[t].slots.count < topic.partitions.count {
                let partition = TopicAndPartition(topic: topic.name, partition: Int32(state.topics[t].slots.count))
                state.topics[t].slots.append(state.partitions.count)
                state.partitions.append(PartitionState(partition: partition))
            }
            for partition in topic.partitions where Int(partition.partition) < state.topics[t].slots.count {
                let slot = state.topics[t].slots[Int(partition.partition)]
                state.partitions[slot].leader = partition.leaderId
                state.partitions[slot].leaderEpoch = partition.leaderEpoch
            }
        }
    }

    /// Copies leaders (and new partitions) from a metadata snapshot.
    func update(from metadata: ClusterMetadata) {
        for name in state.withLock({ $0.topics.map(\.name) }) {
            if let topic = metadata.topics[name], topic.errorCode == 0 { register(topic: topic) }
        }
    }

    // MARK: Memory

    /// Waits until `bytes` fit in `buffer.memory` or `max.block.ms` passes. Returns false on timeout.
    func waitForMemory(bytes: Int) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextMemoryWaiterID += 1
            return state.nextMemoryWaiterID
        }
        let clock = self.clock
        let timeout = UInt64(max(config.maxBlockMs, 0)) * 1_000_000
        let timer = Task {
            do { try await clock.sleep(nanoseconds: timeout) } catch { return }
            self.expireMemoryWaiter(id: id)
        }
        defer { timer.cancel() }
        senderWakeup.signal() // batches become ready at once while memory is short
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.bufferedBytes + bytes <= config.bufferMemoryBytes || state.closing { return true }
                state.memoryWaiters.append(MemoryWaiter(id: id, bytes: bytes, continuation: continuation))
                return false
            }
            if ready { continuation.resume(returning: true) }
        }
    }

    private func expireMemoryWaiter(id: UInt64) {
        let waiter = state.withLock { state -> MemoryWaiter? in
            guard let index = state.memoryWaiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.memoryWaiters.remove(at: index)
        }
        waiter?.continuation.resume(returning: false)
    }

    /// Wakes memory waiters that now fit (in arrival order). Called under the lock; returns them.
    private static func releasableWaiters(_ state: inout State, limit: Int) -> [MemoryWaiter] {
        var woken: [MemoryWaiter] = []
        var projected = state.bufferedBytes
        while let first = state.memoryWaiters.first, projected + first.bytes <= limit || state.closing {
            projected += first.bytes
            woken.append(state.memoryWaiters.removeFirst())
        }
        return woken
    }

    // MARK: Flush and close

    /// Makes every open batch ready now and waits until all batches that exist now are complete.
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                guard state.incompleteBatches > 0 else { return true }
                state.flushing += 1
                state.flushWaiters.append(FlushWaiter(threshold: state.nextBatchID, remaining: state.incompleteBatches,
                                                      continuation: continuation))
                return false
            }
            if done { continuation.resume() } else { senderWakeup.signal() }
        }
    }

    /// Stops accepting records; the sender drains what is left.
    func beginClose() {
        let waiters = state.withLock { state -> [MemoryWaiter] in
            state.closing = true
            let waiters = Array(state.memoryWaiters)
            state.memoryWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
        senderWakeup.signal()
    }

    /// Fails every batch that is open or waiting (not those in flight), after a fatal error.
    func failQueued(_ error: ClientError) {
        let batches = state.withLock { state -> [ProducerBatch] in
            var all: [ProducerBatch] = []
            for slot in state.partitions.indices {
                state.partitions[slot].closeOpenBatch()
                all.append(contentsOf: state.partitions[slot].queue)
                state.partitions[slot].queue.removeAll()
            }
            return all
        }
        for batch in batches { complete(batch, result: .failure(error)) }
    }

    /// Whether nothing is open, queued or in flight.
    var isEmpty: Bool { state.withLock { $0.incompleteBatches == 0 } }

    /// Fails every batch not yet complete (close timed out, or the producer hit a fatal error).
    func abortAll(_ error: ClientError) {
        let batches = state.withLock { state -> [ProducerBatch] in
            state.closed = true
            var all: [ProducerBatch] = []
            for slot in state.partitions.indices {
                state.partitions[slot].closeOpenBatch()
                all.append(contentsOf: state.partitions[slot].queue)
                all.append(contentsOf: state.partitions[slot].inflight)
                state.partitions[slot].queue.removeAll()
                state.partitions[slot].inflight.removeAll()
            }
            return all
        }
        for batch in batches { complete(batch, result: .failure(error)) }
    }

    // MARK: Completing

    /// Finishes a batch: releases its memory, runs its callbacks, wakes flushers and memory waiters.
    /// The batch must already be out of every queue.
    func complete(_ batch: ProducerBatch, result: Result<(baseOffset: Int64, logAppendTimeMs: Int64), ClientError>) {
        let outcome = state.withLock { state -> ([MemoryWaiter], [FlushWaiter])? in
            guard !batch.isComplete else { return nil }
            batch.isComplete = true
            state.bufferedBytes -= batch.accountedBytes
            batch.accountedBytes = 0
            state.incompleteBatches -= 1
            var finished: [FlushWaiter] = []
            var index = 0
            while index < state.flushWaiters.count {
                if batch.id <= state.flushWaiters[index].threshold {
                    state.flushWaiters[index].remaining -= 1
                    if state.flushWaiters[index].remaining <= 0 {
                        finished.append(state.flushWaiters.remove(at: index))
                        state.flushing -= 1
                        continue
                    }
                }
                index += 1
            }
            return (Self.releasableWaiters(&state, limit: config.bufferMemoryBytes), finished)
        }
        guard let (memoryWaiters, flushWaiters) = outcome else { return }
        switch result {
        case let .success((baseOffset, logAppendTimeMs)): batch.succeed(baseOffset: baseOffset, logAppendTimeMs: logAppendTimeMs)
        case let .failure(error): batch.fail(error)
        }
        recycleBuilder(of: batch)
        for waiter in memoryWaiters { waiter.continuation.resume(returning: true) }
        for waiter in flushWaiters { waiter.continuation.resume() }
    }

    /// Keeps a completed batch's builder for its partition's next batch. Emptying it copies nothing
    /// when nobody else holds its bytes (a transport or broker that still does makes the next
    /// append allocate instead: correct either way).
    private func recycleBuilder(of batch: ProducerBatch) {
        guard batch.builder.compression == config.compression, batch.builder.estimatedSizeBytes <= config.batchSizeBytes * 2 else { return }
        batch.built = nil
        var builder = batch.builder
        batch.builder = RecordBatchBuilder(initialCapacityBytes: 0)
        builder.reset()
        state.withLock { state in
            guard let t = state.topicIndex[batch.partition.topic], batch.partition.partition >= 0,
                  Int(batch.partition.partition) < state.topics[t].slots.count else { return }
            let slot = state.topics[t].slots[Int(batch.partition.partition)]
            if state.partitions[slot].spareBuilder == nil { state.partitions[slot].spareBuilder = builder }
        }
    }

    /// Replaces one batch by pieces (a split after MESSAGE_TOO_LARGE): flush waiters count them.
    func registerSplit(pieces: Int) {
        guard pieces > 1 else { return }
        state.withLock { state in
            state.incompleteBatches += pieces - 1
            for index in state.flushWaiters.indices { state.flushWaiters[index].remaining += pieces - 1 }
        }
    }

    // MARK: Draining

    /// The batches to send to one broker in one Produce request.
    struct NodeDrain {
        let nodeId: Int32
        var batches: [ProducerBatch] = []
        var bytes = 0
    }

    /// What the sender should do now.
    struct DrainResult {
        var requests: [NodeDrain] = []
        /// Batches past `delivery.timeout.ms`, out of every queue: fail them.
        var expired: [ProducerBatch] = []
        /// The earliest linger or backoff deadline still pending (monotonic), if any.
        var nextDeadlineNanoseconds: UInt64?
        /// Some ready batch's partition has no known leader: refresh metadata.
        var unknownLeader = false
        /// Idempotence needs a (new) producer id before anything more is sent.
        var needsProducerId = false
    }

    /// Takes the batches that are ready (full, lingered long enough, flushed, retry backoff over)
    /// and whose leader can take another request, grouped per leader, each request at most
    /// `max.request.size` (but at least one batch). Assigns sequences to first sends.
    func drain(now: UInt64) -> DrainResult {
        state.withLock { state in
            var result = DrainResult()
            let lingerNanoseconds = UInt64(max(config.lingerMs, 0)) * 1_000_000
            let deliveryNanoseconds = UInt64(max(config.deliveryTimeoutMs, 0)) * 1_000_000
            let forceReady = state.flushing > 0 || state.closing || !state.memoryWaiters.isEmpty
            var blockSends = false
            if state.idempotent {
                if state.producerId < 0 || (state.producerIdResetNeeded && state.inflightBatchCount == 0) {
                    result.needsProducerId = true
                    blockSends = true
                } else if state.producerIdResetNeeded {
                    blockSends = true // wait for the in-flight answers before re-sequencing
                }
            }
            var perNode: [Int32: NodeDrain] = [:]
            let slotCount = state.partitions.count
            guard slotCount > 0 else { return result }
            state.drainCursor &+= 1
            do {
                for slotOffset in 0 ..< slotCount {
                    let index = (slotOffset + state.drainCursor) % slotCount
                    // Expire what waited longer than delivery.timeout.ms (never what is in flight).
                    if let created = state.partitions[index].open?.createdNanoseconds, elapsed(now, since: created) >= deliveryNanoseconds,
                       let expired = state.partitions[index].takeOpenBatch() {
                        result.expired.append(expired)
                    }
                    while let first = state.partitions[index].queue.first, elapsed(now, since: first.createdNanoseconds) >= deliveryNanoseconds {
                        state.partitions[index].queue.removeFirst()
                        if first.wasSent && state.idempotent { state.producerIdResetNeeded = true }
                        result.expired.append(first)
                    }
                    if state.partitions[index].queue.isEmpty, let created = state.partitions[index].open?.createdNanoseconds {
                        let deadline = created &+ lingerNanoseconds
                        if forceReady || now >= deadline {
                            state.partitions[index].closeOpenBatch()
                        } else {
                            result.nextDeadlineNanoseconds = min(result.nextDeadlineNanoseconds ?? deadline, deadline)
                            continue
                        }
                    }
                    guard !blockSends, let first = state.partitions[index].queue.first else { continue }
                    if first.retryAtNanoseconds > now {
                        result.nextDeadlineNanoseconds = min(result.nextDeadlineNanoseconds ?? first.retryAtNanoseconds,
                                                             first.retryAtNanoseconds)
                        continue
                    }
                    let leader = state.partitions[index].leader
                    guard leader >= 0 else {
                        result.unknownLeader = true
                        continue
                    }
                    if state.inflightPerNode[leader, default: 0] >= config.maxInFlightRequestsPerConnection { continue }
                    // While a partition has a batch being retried (or split), its batches go out one at a
                    // time: a later batch must not be appended before an earlier one that failed (a
                    // broker accepts any first sequence of a new producer id, so it would not refuse it).
                    if !state.partitions[index].inflight.isEmpty,
                       first.mustGoAlone || state.partitions[index].inflight.contains(where: { $0.mustGoAlone }) { continue }
                    // The broker deduplicates against the last five batches of a producer.
                    if state.idempotent, state.partitions[index].inflight.count >= 5 { continue }
                    var group = perNode[leader] ?? NodeDrain(nodeId: leader)
                    let size = first.sizeBytes
                    if !group.batches.isEmpty, group.bytes + size > config.maxRequestSizeBytes { continue }
                    state.partitions[index].queue.removeFirst()
                    first.wasSent = true
                    if state.idempotent, first.baseSequence < 0 {
                        first.baseSequence = state.partitions[index].nextSequence
                        first.producerId = state.producerId
                        first.producerEpoch = state.producerEpoch
                        first.built = nil
                        state.partitions[index].nextSequence = Self.incrementSequence(
                            state.partitions[index].nextSequence, Int32(clamping: first.recordCount))
                    }
                    first.attempts += 1
                    if first.leaderEpoch != state.partitions[index].leaderEpoch {
                        first.leaderEpoch = state.partitions[index].leaderEpoch
                        first.built = nil
                    }
                    state.partitions[index].inflight.append(first)
                    state.inflightBatchCount += 1
                    group.batches.append(first)
                    group.bytes += size
                    perNode[leader] = group
                }
            }
            for (nodeId, group) in perNode {
                state.inflightPerNode[nodeId, default: 0] += 1
                result.requests.append(group)
            }
            return result
        }
    }

    /// Kafka's sequence arithmetic: sequences wrap from Int32.max to 0.
    static func incrementSequence(_ sequence: Int32, _ increment: Int32) -> Int32 {
        if sequence > Int32.max - increment { return increment - (Int32.max - sequence) - 1 }
        return sequence + increment
    }

    /// Installs a new producer id and epoch and restarts every partition's sequences; batches
    /// not yet answered will be re-sequenced when next drained.
    func installProducerId(_ producerId: Int64, epoch: Int16) {
        state.withLock { state in
            state.producerId = producerId
            state.producerEpoch = epoch
            state.producerIdResetNeeded = false
            for slot in state.partitions.indices {
                state.partitions[slot].nextSequence = 0
                for batch in state.partitions[slot].queue {
                    batch.baseSequence = -1
                    batch.built = nil
                }
            }
        }
    }

    /// Turns idempotence off (it was only a default and the broker cannot give producer ids).
    func disableIdempotence() {
        state.withLock { state in
            state.idempotent = false
            state.producerIdResetNeeded = false
        }
    }

    /// Whether sequences are in use now.
    var isIdempotent: Bool { state.withLock { $0.idempotent } }

    // MARK: Outcomes

    /// How one drained batch ended, as the sender saw it.
    enum BatchOutcome {
        case success(baseOffset: Int64, logAppendTimeMs: Int64)
        /// Retry it (after backoff) unless retries or delivery time are used up.
        case retriable(ClientError)
        /// The broker lacks a producer state we rely on: retry under a new producer id.
        case retriableAfterProducerIdReset(ClientError)
        /// Too large as a whole: replace it by these smaller batches (nil when it cannot be split).
        case split([ProducerBatch]?, ClientError)
        case failed(ClientError)
    }

    /// What the sender must do after `finish`.
    struct FinishActions {
        var completed: [(ProducerBatch, Result<(baseOffset: Int64, logAppendTimeMs: Int64), ClientError>)] = []
        var refreshMetadata = false
    }

    /// Applies the outcomes of one request's batches: frees the request's slot at `nodeId`, takes
    /// the batches out of flight, and requeues, splits or completes each.
    func finish(nodeId: Int32, outcomes: [(ProducerBatch, BatchOutcome)], retryBackoffNanoseconds: (Int) -> UInt64) -> FinishActions {
        let now = clock.monotonicNanoseconds()
        let deliveryNanoseconds = UInt64(max(config.deliveryTimeoutMs, 0)) * 1_000_000
        var actions = FinishActions()
        state.withLock { state in
            if let count = state.inflightPerNode[nodeId] { state.inflightPerNode[nodeId] = max(count - 1, 0) }
            for (batch, outcome) in outcomes where !batch.isComplete {
                guard let t = state.topicIndex[batch.partition.topic], batch.partition.partition >= 0,
                      Int(batch.partition.partition) < state.topics[t].slots.count else {
                    actions.completed.append((batch, .failure(.unknownTopic(batch.partition.topic))))
                    continue
                }
                let index = state.topics[t].slots[Int(batch.partition.partition)]
                if let position = state.partitions[index].inflight.firstIndex(where: { $0 === batch }) {
                    state.partitions[index].inflight.remove(at: position)
                    state.inflightBatchCount -= 1
                }
                let canRetry = batch.attempts <= config.retries && elapsed(now, since: batch.createdNanoseconds) < deliveryNanoseconds
                    && !state.closed
                switch outcome {
                case let .success(baseOffset, logAppendTimeMs):
                    actions.completed.append((batch, .success((baseOffset, logAppendTimeMs))))
                case let .retriable(error), let .retriableAfterProducerIdReset(error):
                    if case .retriableAfterProducerIdReset = outcome, state.idempotent {
                        // A gap the broker reports while an earlier batch of ours is still to be
                        // resent is ours to close by resending in order; otherwise the broker lost
                        // our producer state and sequences restart under a new producer id.
                        let earlierPending = state.partitions[index].queue.contains { $0.orderKey < batch.orderKey }
                            || state.partitions[index].inflight.contains { $0.orderKey < batch.orderKey }
                        if !earlierPending { state.producerIdResetNeeded = true }
                    }
                    if case .broker = error { actions.refreshMetadata = actions.refreshMetadata || Self.refreshesMetadata(error) }
                    if case .transport = error { actions.refreshMetadata = true }
                    if canRetry {
                        batch.retryAtNanoseconds = now &+ retryBackoffNanoseconds(batch.attempts)
                        batch.mustGoAlone = true
                        Self.requeue(batch, into: &state.partitions[index].queue)
                    } else {
                        if batch.wasSent && state.idempotent { state.producerIdResetNeeded = true }
                        let final: ClientError = elapsed(now, since: batch.createdNanoseconds) >= deliveryNanoseconds
                            ? .timedOut(operation: "delivery to \(batch.partition)", config: "delivery.timeout.ms",
                                        afterMs: config.deliveryTimeoutMs)
                            : error
                        actions.completed.append((batch, .failure(final)))
                    }
                case let .split(pieces, error):
                    if let pieces, pieces.count > 1, canRetry {
                        if state.idempotent { state.producerIdResetNeeded = true }
                        // The pieces replace the batch: they carry its callbacks and memory.
                        batch.completions = []
                        batch.accountedBytes = 0
                        batch.isComplete = true
                        state.incompleteBatches += pieces.count - 1
                        for waiterIndex in state.flushWaiters.indices where batch.id <= state.flushWaiters[waiterIndex].threshold {
                            state.flushWaiters[waiterIndex].remaining += pieces.count - 1
                        }
                        for piece in pieces {
                            piece.mustGoAlone = true
                            Self.requeue(piece, into: &state.partitions[index].queue)
                        }
                    } else {
                        if batch.wasSent && state.idempotent { state.producerIdResetNeeded = true }
                        actions.completed.append((batch, .failure(error)))
                    }
                case let .failed(error):
                    if batch.wasSent && state.idempotent { state.producerIdResetNeeded = true }
                    actions.completed.append((batch, .failure(error)))
                }
            }
        }
        return actions
    }

    /// Puts `batch` back into `queue` by its order key (before every later batch).
    private static func requeue(_ batch: ProducerBatch, into queue: inout Deque<ProducerBatch>) {
        var position = 0
        while position < queue.count, queue[position].orderKey < batch.orderKey { position += 1 }
        queue.insert(batch, at: position)
    }

    /// Errors after which the cached leaders are likely wrong.
    static func refreshesMetadata(_ error: ClientError) -> Bool {
        switch error.kafkaErrorCode {
        case .notLeaderOrFollower?, .unknownTopicOrPartition?, .leaderNotAvailable?, .fencedLeaderEpoch?,
             .unknownLeaderEpoch?, .kafkaStorageError?, .notEnoughReplicas?, .notEnoughReplicasAfterAppend?:
            true
        default:
            false
        }
    }
}

/// The time from `start` to `now`, or 0 when `start` is later (a reading taken before another
/// thread stamped `start`): never a wrapped-around huge value.
@inline(__always)
func elapsed(_ now: UInt64, since start: UInt64) -> UInt64 {
    now > start ? now - start : 0
}
