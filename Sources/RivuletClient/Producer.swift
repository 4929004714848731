import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire
import Synchronization

/// A record to produce (Kafka's `ProducerRecord`). Key and value are bytes; nil is null.
public struct ProducerRecord: Sendable {
    /// The topic.
    public var topic: String
    /// The partition, or nil to let the partitioner choose (murmur2 of the key, or sticky).
    public var partition: Int32?
    /// The key (nil: null key).
    public var key: ByteBuffer?
    /// The value (nil: a tombstone).
    public var value: ByteBuffer?
    /// The headers.
    public var headers: [RecordHeader]
    /// The CreateTime in ms since the epoch, or nil for the producer clock's now.
    public var timestampMs: Int64?

    public init(topic: String, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?,
                headers: [RecordHeader] = [], timestampMs: Int64? = nil) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMs = timestampMs
    }
}

/// Kafka's producer over any `Transport`.
///
/// `send` appends a record to its partition's open batch (the partitioner picks the partition:
/// explicit, murmur2 of the key like Java's client, or sticky for null keys) and returns; a
/// background sender sends batches once they are full (`batch.size`), have waited `linger.ms`,
/// or on `flush`/`close`, at most `max.in.flight.requests.per.connection` requests per broker,
/// retrying retriable errors with `retry.backoff.ms` until `delivery.timeout.ms`. With
/// idempotence (the default with `acks=all`) batches carry a producer id and sequences, so
/// retries neither duplicate nor reorder. A batch rejected with MESSAGE_TOO_LARGE is split in
/// halves and retried, so only the offending record fails.
///
/// Two forms of `send`: `send(...) -> RecordMetadata` waits for the outcome; `send(...,
/// completion:)` returns once the record is buffered and calls the completion (if any) with the
/// outcome later. Without a completion the append allocates nothing per record. Either form
/// suspends only to fetch a topic's metadata on first use or while `buffer.memory` is full
/// (at most `max.block.ms`). Thread-safe: any number of tasks may send concurrently.
public final class Producer: Sendable {
    /// The cluster this producer sends to.
    public let cluster: ClusterClient
    /// The producer settings.
    public let config: ProducerConfig
    @usableFromInline let accumulator: RecordAccumulator
    private let ownsCluster: Bool
    private let sender = Mutex<Task<Void, Never>?>(nil)
    private let senderStopped = ResponseFuture<Void>()
    /// The last response handler per broker (handlers run their completions in send order).
    private let responseHandlers = Mutex<[Int32: Task<Void, Never>]>([:])

    /// A producer over a shared cluster client (closing the producer leaves the cluster client open).
    ///
    /// - Throws: `ClientError.invalidConfig` for inconsistent settings.
    public convenience init(cluster: ClusterClient, config: ProducerConfig = ProducerConfig()) throws(ClientError) {
        try self.init(cluster: cluster, config: config, ownsCluster: false)
    }

    /// A producer with its own cluster client over `transport`.
    public convenience init(clientConfig: ClientConfig, transport: any Transport,
                            config: ProducerConfig = ProducerConfig()) throws(ClientError) {
        try self.init(cluster: ClusterClient(config: clientConfig, transport: transport), config: config, ownsCluster: true)
    }

    private init(cluster: ClusterClient, config: ProducerConfig, ownsCluster: Bool) throws(ClientError) {
        try config.validate()
        self.cluster = cluster
        self.config = config
        self.ownsCluster = ownsCluster
        accumulator = RecordAccumulator(config: config, idempotent: try config.idempotenceEnabled(), clock: cluster.clock,
                                        randomSeed: cluster.config.randomSeed)
        let task = Task { [self] in await self.runSender() }
        sender.withLock { $0 = task }
    }

    /// Whether batches carry producer ids and sequences.
    public var isIdempotent: Bool { accumulator.isIdempotent }

    // MARK: Sending

    /// Buffers a record and returns; `completion` (if any) gets its outcome later.
    ///
    /// - Throws: before buffering: `.recordTooLarge` (over `max.request.size` or `buffer.memory`),
    ///   `.invalidPartition`, `.timedOut` (metadata or memory not available within `max.block.ms`),
    ///   the topic's metadata error, `.closed`. The completion is not called then.
    @inlinable
    public func send(topic: String, partition: Int32? = nil, key: ByteBuffer?, value: ByteBuffer?,
                     headers: [RecordHeader] = [], timestampMs: Int64? = nil,
                     completion: ProducerCompletion?) async throws(ClientError) {
        // The raw bytes are taken here, outside the lock, so that the append itself runs no closure.
        // A nil timestamp is read under the lock, from the accumulator's clock cache.
        var failure: ClientError?
        let result = Self.withBytes(key, value) { keyBytes, valueBytes -> RecordAccumulator.AppendResult? in
            do throws(ClientError) {
                return try accumulator.append(topic: topic, partition: partition, timestampMs: timestampMs, key: keyBytes,
                                              value: valueBytes, headers: headers, completion: completion, ignoreMemoryLimit: false)
            } catch {
                failure = error
                return nil
            }
        }
        if case let .appended(wake)? = result {
            if wake { accumulator.senderWakeup.signal() }
            return
        }
        if let failure { throw failure }
        try await sendSlowPath(topic: topic, partition: partition, key: key, value: value, headers: headers,
                               timestampMs: timestampMs ?? cluster.clock.wallMilliseconds(), completion: completion)
    }

    /// `send(topic:partition:key:value:headers:timestampMs:completion:)` with array key and value.
    public func send(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
                     headers: [RecordHeader] = [], timestampMs: Int64? = nil,
                     completion: ProducerCompletion?) async throws(ClientError) {
        try await send(topic: topic, partition: partition, key: key.map { ByteBuffer(bytes: $0) },
                       value: value.map { ByteBuffer(bytes: $0) }, headers: headers, timestampMs: timestampMs,
                       completion: completion)
    }

    /// Buffers `record` and returns; see `send(topic:...completion:)`.
    public func send(_ record: ProducerRecord, completion: ProducerCompletion?) async throws(ClientError) {
        try await send(topic: record.topic, partition: record.partition, key: record.key, value: record.value,
                       headers: record.headers, timestampMs: record.timestampMs, completion: completion)
    }

    /// Sends a record and waits for its outcome.
    ///
    /// - Returns: the record's partition, offset (-1 with `acks=0`) and timestamp.
    /// - Throws: what the buffering form throws, then the delivery error (the broker's error after
    ///   retries, `.timedOut` after `delivery.timeout.ms`).
    public func send(topic: String, partition: Int32? = nil, key: ByteBuffer?, value: ByteBuffer?,
                     headers: [RecordHeader] = [], timestampMs: Int64? = nil) async throws(ClientError) -> RecordMetadata {
        let outcome = ResponseFuture<RecordMetadata>()
        try await send(topic: topic, partition: partition, key: key, value: value, headers: headers, timestampMs: timestampMs) {
            outcome.complete($0.mapError { $0 })
        }
        do { return try await outcome.value } catch { throw ClientError.wrap(error) }
    }

    /// `send(topic:partition:key:value:headers:timestampMs:)` with array key and value.
    public func send(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8]?,
                     headers: [RecordHeader] = [], timestampMs: Int64? = nil) async throws(ClientError) -> RecordMetadata {
        try await send(topic: topic, partition: partition, key: key.map { ByteBuffer(bytes: $0) },
                       value: value.map { ByteBuffer(bytes: $0) }, headers: headers, timestampMs: timestampMs)
    }

    /// Sends `record` and waits for its outcome.
    public func send(_ record: ProducerRecord) async throws(ClientError) -> RecordMetadata {
        try await send(topic: record.topic, partition: record.partition, key: record.key, value: record.value,
                       headers: record.headers, timestampMs: record.timestampMs)
    }

    /// Calls `body` with the readable bytes of two optional buffers.
    ///
    /// Optional chaining reads each buffer in place; binding it (`case let value?`) would copy it out
    /// of the optional, a retain and a release of its storage per record, which cost up to a sixth of
    /// the producer's time when another thread wrote next to that storage object (false sharing).
    @inlinable @inline(__always)
    static func withBytes<Result>(_ key: ByteBuffer?, _ value: ByteBuffer?,
                                  _ body: (UnsafeRawBufferPointer?, UnsafeRawBufferPointer?) -> Result) -> Result {
        @inline(__always) func withValue(_ keyBytes: UnsafeRawBufferPointer?) -> Result {
            if let result = value?.withUnsafeReadableBytes({ body(keyBytes, $0) }) { return result }
            return body(keyBytes, nil)
        }
        if let result = key?.withUnsafeReadableBytes({ withValue($0) }) { return result }
        return withValue(nil)
    }

    /// The slow path: fetches metadata, waits for memory, and reports errors.
    @usableFromInline
    func sendSlowPath(topic: String, partition: Int32?, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader],
                      timestampMs: Int64, completion: ProducerCompletion?) async throws(ClientError) {
        var ignoreMemoryLimit = false
        var rounds = 0
        while true {
            rounds += 1
            var failure: ClientError?
            let attempt = Self.withBytes(key, value) { keyBytes, valueBytes -> RecordAccumulator.AppendResult? in
                do throws(ClientError) {
                    return try accumulator.append(topic: topic, partition: partition, timestampMs: timestampMs, key: keyBytes,
                                                  value: valueBytes, headers: headers, completion: completion,
                                                  ignoreMemoryLimit: ignoreMemoryLimit)
                } catch {
                    failure = error
                    return nil
                }
            }
            if let failure { throw failure }
            guard let result = attempt else { throw .closed }
            switch result {
            case let .appended(wake):
                if wake { accumulator.senderWakeup.signal() }
                return
            case .needsTopic:
                guard rounds < 4 else { throw .unknownTopic(topic) }
                let metadata = try await cluster.topicMetadata(topic, timeoutMs: config.maxBlockMs)
                accumulator.register(topic: metadata)
            case let .needsMemory(bytes):
                guard await accumulator.waitForMemory(bytes: bytes) else {
                    if cluster.isClosed || accumulator.state.withLock({ $0.closing }) { throw .closed }
                    throw .timedOut(operation: "waiting for \(bytes) bytes of buffer memory", config: "max.block.ms",
                                    afterMs: config.maxBlockMs)
                }
                // The space was there when we woke; do not queue behind later senders again.
                ignoreMemoryLimit = true
            }
        }
    }

    // MARK: Flush and close

    /// Sends every buffered record now (ignoring `linger.ms`) and waits until all records sent
    /// before this call have an outcome.
    public func flush() async {
        await accumulator.flush()
    }

    /// Stops accepting records, sends what is buffered, and waits for the outcomes at most
    /// `timeoutMs` (nil: `delivery.timeout.ms`); records still pending then fail with `.closed`.
    public func close(timeoutMs: Int64? = nil) async {
        accumulator.beginClose()
        let timeout = timeoutMs ?? config.deliveryTimeoutMs
        let drained = ResponseFuture<Bool>()
        let flusher = Task { [accumulator] in
            await accumulator.flush()
            drained.succeed(true)
        }
        let clock = cluster.clock
        let timer = Task {
            do { try await clock.sleep(nanoseconds: UInt64(max(timeout, 0)) * 1_000_000) } catch { return }
            drained.succeed(false)
        }
        let flushed = (try? await drained.value) ?? false
        timer.cancel()
        if !flushed { accumulator.abortAll(.closed) }
        _ = await flusher.value
        accumulator.state.withLock { $0.closed = true }
        accumulator.senderWakeup.signal()
        _ = try? await senderStopped.value
        if ownsCluster { await cluster.close() }
    }

    // MARK: The sender

    private func runSender() async {
        defer { senderStopped.succeed(()) }
        let clock = cluster.clock
        var syncedMetadataAt: UInt64 = 0
        while true {
            let (closed, empty) = accumulator.state.withLock { ($0.closed, $0.incompleteBatches == 0) }
            if closed && empty { return }
            let now = clock.monotonicNanoseconds()
            let metadata = cluster.metadata
            if metadata.fetchedAtNanoseconds != syncedMetadataAt {
                accumulator.update(from: metadata)
                syncedMetadataAt = metadata.fetchedAtNanoseconds
            } else if metadata.fetchedAtNanoseconds > 0,
                      elapsed(now, since: metadata.fetchedAtNanoseconds) > UInt64(max(cluster.config.metadataMaxAgeMs, 0)) * 1_000_000 {
                cluster.requestMetadataRefresh()
            }
            let plan = accumulator.drain(now: now)
            for batch in plan.expired {
                accumulator.complete(batch, result: .failure(.timedOut(
                    operation: "delivery to \(batch.partition)", config: "delivery.timeout.ms", afterMs: config.deliveryTimeoutMs)))
            }
            if plan.needsProducerId {
                await initProducerId()
                continue
            }
            for request in plan.requests { await send(request) }
            if !plan.requests.isEmpty || !plan.expired.isEmpty { continue }
            var deadline = plan.nextDeadlineNanoseconds
            if plan.unknownLeader {
                cluster.requestMetadataRefresh()
                let backoff = now &+ max(cluster.retryBackoffNanoseconds(attempt: 1), 1_000_000)
                deadline = min(deadline ?? backoff, backoff)
            }
            if closed { deadline = min(deadline ?? now &+ 10_000_000, now &+ 10_000_000) }
            await accumulator.senderWakeup.wait(clock: clock, deadlineNanoseconds: deadline)
        }
    }

    /// Gets a producer id (InitProducerId) and restarts sequences under it.
    private func initProducerId() async {
        let request = InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: Int32.max, producerId: -1, producerEpoch: -1)
        var attempt = 0
        while !accumulator.state.withLock({ $0.closed }) {
            attempt += 1
            do throws(ClientError) {
                let response = try await cluster.sendToAnyBroker(request)
                if response.errorCode == 0 {
                    accumulator.installProducerId(response.producerId, epoch: response.producerEpoch)
                    return
                }
                throw ClientError.broker(errorCode: response.errorCode, topic: nil, partition: nil, message: "InitProducerId")
            } catch {
                if case .transport(.unsupportedVersion) = error, config.enableIdempotence == nil {
                    accumulator.disableIdempotence()
                    return
                }
                if !error.isRetriable {
                    // Fatal for what is buffered; later records try again.
                    accumulator.failQueued(error)
                    return
                }
            }
            do { try await cluster.clock.sleep(nanoseconds: cluster.retryBackoffNanoseconds(attempt: attempt)) } catch { return }
        }
    }

    /// Sends one drained request and arranges for its answer to be handled.
    private func send(_ drain: RecordAccumulator.NodeDrain) async {
        var outcomes: [(ProducerBatch, RecordAccumulator.BatchOutcome)] = []
        var ready: [ProducerBatch] = []
        ready.reserveCapacity(drain.batches.count)
        for batch in drain.batches {
            if batch.built == nil {
                batch.builder.producerId = batch.producerId
                batch.builder.producerEpoch = batch.producerEpoch
                batch.builder.baseSequence = batch.baseSequence
                batch.builder.partitionLeaderEpoch = batch.leaderEpoch
                do {
                    batch.built = try batch.builder.build()
                } catch {
                    outcomes.append((batch, .failed(.corruptRecords(batch.partition, reason: "\(error)"))))
                    continue
                }
            }
            ready.append(batch)
        }
        guard !ready.isEmpty else {
            finish(nodeId: drain.nodeId, outcomes: outcomes)
            return
        }
        var topicData: [ProduceRequest.TopicProduceData] = []
        for batch in ready {
            let data = ProduceRequest.PartitionProduceData(index: batch.partition.partition, records: batch.built?.buffer)
            if let position = topicData.firstIndex(where: { $0.name == batch.partition.topic }) {
                topicData[position].partitionData.append(data)
            } else {
                topicData.append(ProduceRequest.TopicProduceData(name: batch.partition.topic, partitionData: [data]))
            }
        }
        let request = ProduceRequest(transactionalId: nil, acks: config.acks.rawValue,
                                     timeoutMs: Int32(clamping: cluster.config.requestTimeoutMs), topicData: topicData)
        let connection: NegotiatedConnection
        let future: ResponseFuture<KafkaResponseBody?>
        do throws(ClientError) {
            connection = try await cluster.connection(toNode: drain.nodeId)
            do { future = try connection.enqueue(request, expectResponse: config.acks != .none).response } catch {
                throw ClientError.transport(error)
            }
        } catch {
            let outcome: RecordAccumulator.BatchOutcome = if case .transport(.unsupportedVersion) = error { .failed(error) } else { .retriable(error) }
            outcomes.append(contentsOf: ready.map { ($0, outcome) })
            finish(nodeId: drain.nodeId, outcomes: outcomes)
            return
        }
        if config.acks == .none {
            outcomes.append(contentsOf: ready.map { ($0, .success(baseOffset: -1, logAppendTimeMs: -1)) })
            finish(nodeId: drain.nodeId, outcomes: outcomes)
            return
        }
        let cluster = self.cluster
        // Answers are handled in the order the requests were sent to the broker (Kafka calls a
        // partition's callbacks in send order): each handler waits for the previous one.
        let nodeId = drain.nodeId
        // Only the sender task calls `send`, so reading and replacing the chain's tail is not racy.
        let previous = responseHandlers.withLock { $0[nodeId] }
        let task = Task {
            var outcomes = outcomes
            do throws(ClientError) {
                let body = try await cluster.awaitResponse(future, on: connection)
                guard let body, let response = ProduceResponse(body: body) else {
                    throw ClientError.transport(.unexpectedResponse(connection.address, expected: .produce))
                }
                for batch in ready { outcomes.append((batch, self.outcome(of: batch, in: response))) }
            } catch {
                outcomes.append(contentsOf: ready.map { ($0, .retriable(error)) })
            }
            await previous?.value
            self.finish(nodeId: nodeId, outcomes: outcomes)
        }
        responseHandlers.withLock { $0[nodeId] = task }
    }

    /// Classifies a partition's answer.
    private func outcome(of batch: ProducerBatch, in response: ProduceResponse) -> RecordAccumulator.BatchOutcome {
        let partition = batch.partition
        guard let topic = response.responses.first(where: { $0.name == partition.topic }),
              let answer = topic.partitionResponses.first(where: { $0.index == partition.partition }) else {
            return .failed(.broker(KafkaErrorCode.unknownServerError.rawValue, partition,
                                   message: "the broker's answer did not mention the partition"))
        }
        let code = answer.errorCode
        guard code != 0 else { return .success(baseOffset: answer.baseOffset, logAppendTimeMs: answer.logAppendTimeMs) }
        let error = ClientError.broker(code, partition, message: answer.errorMessage)
        switch KafkaErrorCode(rawValue: code) {
        case .duplicateSequenceNumber?:
            return .success(baseOffset: -1, logAppendTimeMs: -1)
        case .messageTooLarge?, .recordListTooLarge?:
            return .split(split(batch), error)
        case .outOfOrderSequenceNumber?, .unknownProducerId?:
            return accumulator.isIdempotent ? .retriableAfterProducerIdReset(error) : .failed(error)
        case let known? where known.isRetriable:
            return .retriable(error)
        default:
            return .failed(error)
        }
    }

    /// Halves a batch (for MESSAGE_TOO_LARGE): two new batches with the same records, callbacks
    /// and order; nil when it holds a single record.
    private func split(_ batch: ProducerBatch) -> [ProducerBatch]? {
        guard batch.recordCount > 1, let built = batch.built,
              let records = try? built.records(verifyChecksum: false), records.count == batch.recordCount else { return nil }
        let half = records.count / 2
        var pieces: [ProducerBatch] = []
        for (pieceIndex, range) in [0 ..< half, half ..< records.count].enumerated() {
            var builder = RecordBatchBuilder(compression: config.compression, compressionLevel: config.compressionLevel,
                                             initialCapacityBytes: built.buffer.readableBytes / 2 + 64)
            for record in records[range] {
                do {
                    try builder.append(timestampMs: record.timestampMs, key: record.key, value: record.value,
                                       headers: record.headers.map(\.materialized))
                } catch { return nil }
            }
            let piece = ProducerBatch(partition: batch.partition, builder: builder, createdNanoseconds: batch.createdNanoseconds,
                                      id: batch.id)
            piece.orderSpan = batch.orderSpan / 2
            piece.orderKey = batch.orderKey + Double(pieceIndex) * piece.orderSpan
            piece.accountedBytes = pieceIndex == 0 ? batch.accountedBytes / 2 : batch.accountedBytes - batch.accountedBytes / 2
            let lower = Int32(range.lowerBound)
            piece.completions = batch.completions.filter { range.contains(Int($0.delta)) }.map { ($0.delta - lower, $0.timestampMs, $0.completion) }
            pieces.append(piece)
        }
        return pieces
    }

    private func finish(nodeId: Int32, outcomes: [(ProducerBatch, RecordAccumulator.BatchOutcome)]) {
        let actions = accumulator.finish(nodeId: nodeId, outcomes: outcomes) { [cluster] attempt in
            cluster.retryBackoffNanoseconds(attempt: attempt)
        }
        if actions.refreshMetadata { cluster.requestMetadataRefresh() }
        for (batch, result) in actions.completed { accumulator.complete(batch, result: result) }
        accumulator.senderWakeup.signal()
    }
}
