import NIOCore
import RivuletCore
import RivuletTransport
import RivuletWire

/// Kafka's consumer (manual assignment; groups come later) over any `Transport`.
///
/// `assign` partitions, optionally `seek`, then `poll` for batches of records, or iterate
/// `records` (an `AsyncSequence` of `ConsumerRecord`). Positions without a committed or sought
/// offset, and positions that fall out of the log (OFFSET_OUT_OF_RANGE, after retention), are
/// reset per `auto.offset.reset`; with `none` the poll throws instead. One fetch is kept in
/// flight per broker: when `poll` returns data it sends the next fetches before returning, so the
/// broker works while the application processes.
///
/// Thread-safe, but meant to be polled by one task at a time (like Kafka's consumer).
public final class Consumer: Sendable {
    /// The cluster this consumer reads from.
    public let cluster: ClusterClient
    /// The consumer settings.
    public let config: ConsumerConfig
    let fetcher: Fetcher
    private let ownsCluster: Bool

    /// A consumer over a shared cluster client (closing the consumer leaves it open).
    public convenience init(cluster: ClusterClient, config: ConsumerConfig = ConsumerConfig()) throws(ClientError) {
        try self.init(cluster: cluster, config: config, ownsCluster: false)
    }

    /// A consumer with its own cluster client over `transport`.
    public convenience init(clientConfig: ClientConfig, transport: any Transport,
                            config: ConsumerConfig = ConsumerConfig()) throws(ClientError) {
        try self.init(cluster: ClusterClient(config: clientConfig, transport: transport), config: config, ownsCluster: true)
    }

    private init(cluster: ClusterClient, config: ConsumerConfig, ownsCluster: Bool) throws(ClientError) {
        try config.validate()
        self.cluster = cluster
        self.config = config
        self.ownsCluster = ownsCluster
        fetcher = Fetcher(config: config, cluster: cluster)
    }

    // MARK: Assignment and positions

    /// Replaces the assignment. Partitions kept keep their positions; new ones start per
    /// `auto.offset.reset` unless sought.
    public func assign(_ partitions: [TopicAndPartition]) {
        cluster.track(topics: Set(partitions.map(\.topic)))
        fetcher.assign(partitions)
    }

    /// The assigned partitions, sorted.
    public var assignment: [TopicAndPartition] {
        fetcher.state.withLock { Array($0.partitions.keys) }.sorted()
    }

    /// Makes the next poll read `partition` from `offset`.
    ///
    /// - Throws: `ClientError.notAssigned`.
    public func seek(_ partition: TopicAndPartition, to offset: Int64) throws(ClientError) {
        guard offset >= 0 else {
            throw .invalidConfig(name: "offset", value: String(offset), reason: "offsets are not negative; use seekToBeginning/End")
        }
        try fetcher.seek(partition, to: offset, reset: nil)
    }

    /// Makes the next poll read from the log start of `partitions` (nil: every assigned partition).
    public func seekToBeginning(_ partitions: [TopicAndPartition]? = nil) throws(ClientError) {
        for partition in partitions ?? assignment { try fetcher.seek(partition, to: nil, reset: .earliest) }
    }

    /// Makes the next poll read from the log end of `partitions` (nil: every assigned partition).
    public func seekToEnd(_ partitions: [TopicAndPartition]? = nil) throws(ClientError) {
        for partition in partitions ?? assignment { try fetcher.seek(partition, to: nil, reset: .latest) }
    }

    /// The offset of the next record `poll` will return for `partition`, resolving a pending reset.
    ///
    /// - Throws: `.notAssigned`, `.noOffsetForPartition` (reset none), `.timedOut`.
    public func position(_ partition: TopicAndPartition) async throws(ClientError) -> Int64 {
        let deadline = cluster.deadlineNanoseconds(afterMs: cluster.config.defaultApiTimeoutMs)
        var attempt = 0
        while true {
            let current = fetcher.state.withLock { $0.partitions[partition].map { $0.position } }
            guard let current else { throw .notAssigned(partition) }
            if let current { return current }
            try await fetcher.resetPositionsIfNeeded(timeoutMs: cluster.config.defaultApiTimeoutMs)
            attempt += 1
            let now = cluster.clock.monotonicNanoseconds()
            if fetcher.state.withLock({ $0.partitions[partition]?.position }) == nil {
                guard now < deadline else {
                    throw .timedOut(operation: "position of \(partition)", config: "default.api.timeout.ms",
                                    afterMs: cluster.config.defaultApiTimeoutMs)
                }
                do { try await cluster.clock.sleep(nanoseconds: min(cluster.retryBackoffNanoseconds(attempt: attempt), deadline - now)) } catch {
                    throw .closed
                }
            }
        }
    }

    /// The high watermark of `partition` from the last fetch, or nil before one (for lag).
    public func highWatermark(_ partition: TopicAndPartition) -> Int64? {
        fetcher.state.withLock { state in
            guard let value = state.partitions[partition]?.highWatermark, value >= 0 else { return nil }
            return value
        }
    }

    /// The log start offsets of `partitions` (ListOffsets -2).
    public func beginningOffsets(_ partitions: [TopicAndPartition]) async throws(ClientError) -> [TopicAndPartition: Int64] {
        try await fetcher.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(-2)) }),
                                      timeoutMs: cluster.config.defaultApiTimeoutMs)
    }

    /// The end offsets (high watermarks) of `partitions` (ListOffsets -1).
    public func endOffsets(_ partitions: [TopicAndPartition]) async throws(ClientError) -> [TopicAndPartition: Int64] {
        try await fetcher.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(-1)) }),
                                      timeoutMs: cluster.config.defaultApiTimeoutMs)
    }

    // MARK: Polling

    /// Returns the records fetched since the last poll, waiting up to `timeoutMs` for some.
    /// Returns whole batches, up to about `max.poll.records` records; an empty result after the
    /// timeout. Positions advance past the returned records.
    ///
    /// - Throws: `.noOffsetForPartition` / `.offsetOutOfRange` (auto.offset.reset none),
    ///   `.corruptRecords`, non-retriable broker errors (e.g. authorization), `.closed`.
    ///   Retriable errors (leader moves, connection loss) are retried inside.
    public func poll(timeoutMs: Int64) async throws(ClientError) -> ConsumerRecords {
        let clock = cluster.clock
        let deadline = cluster.deadlineNanoseconds(afterMs: timeoutMs)
        try await ensureMetadata()
        while true {
            if fetcher.state.withLock({ $0.closed }) { throw .closed }
            try await fetcher.resetPositionsIfNeeded(timeoutMs: max(timeoutMs, 1))
            let records = try fetcher.collect()
            fetcher.sendFetches()
            if !records.isEmpty { return records }
            let now = clock.monotonicNanoseconds()
            guard now < deadline else { return .empty }
            var wakeAt = deadline
            let incomplete = fetcher.state.withLock { state in
                state.partitions.values.contains { $0.position == nil || $0.backoffUntilNanoseconds > now }
            }
            if incomplete || fetcher.needsLeaders {
                wakeAt = min(wakeAt, now &+ max(cluster.retryBackoffNanoseconds(attempt: 1), 1_000_000))
            }
            await fetcher.wakeup.wait(clock: clock, deadlineNanoseconds: wakeAt)
        }
    }

    /// Fetches metadata for assigned topics the cluster client does not know yet.
    private func ensureMetadata() async throws(ClientError) {
        let metadata = cluster.metadata
        let missing = Set(assignment.map(\.topic)).filter { metadata.topics[$0] == nil }
        for topic in missing.sorted() {
            _ = try await cluster.topicMetadata(topic, timeoutMs: cluster.config.defaultApiTimeoutMs)
        }
    }

    /// Every record from now on, polled with `pollTimeoutMs` per poll. The sequence ends when the
    /// iterating task is cancelled or the consumer is closed; it throws what `poll` throws.
    public func records(pollTimeoutMs: Int64 = 1000) -> ConsumerRecordSequence {
        ConsumerRecordSequence(consumer: self, pollTimeoutMs: pollTimeoutMs)
    }

    /// Stops fetching; later polls throw `.closed`.
    public func close() async {
        await fetcher.close()
        if ownsCluster { await cluster.close() }
    }
}

extension Fetcher {
    /// Whether some assigned partition has no known leader.
    var needsLeaders: Bool {
        let metadata = cluster.metadata
        return state.withLock { state in state.partitions.keys.contains { metadata.leader(of: $0) == nil } }
    }
}

/// The records of a consumer as an `AsyncSequence`: each `next()` decodes one record from the
/// last poll (no allocation), polling again when they are used up.
public struct ConsumerRecordSequence: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    public typealias Failure = ClientError

    let consumer: Consumer
    let pollTimeoutMs: Int64
    /// Checked before every poll (a group consumer's fatal error); nil for a plain consumer.
    let check: (@Sendable () -> ClientError?)?

    init(consumer: Consumer, pollTimeoutMs: Int64, check: (@Sendable () -> ClientError?)? = nil) {
        self.consumer = consumer
        self.pollTimeoutMs = pollTimeoutMs
        self.check = check
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(consumer: consumer, pollTimeoutMs: pollTimeoutMs, check: check)
    }

    /// Walks the polled batches record by record.
    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = ConsumerRecord
        public typealias Failure = ClientError

        let consumer: Consumer
        let pollTimeoutMs: Int64
        let check: (@Sendable () -> ClientError?)?
        var current = ConsumerRecords.empty
        var chunkIndex = 0
        var batchIndex = 0
        var records: RecordIterator?

        init(consumer: Consumer, pollTimeoutMs: Int64, check: (@Sendable () -> ClientError?)? = nil) {
            self.consumer = consumer
            self.pollTimeoutMs = pollTimeoutMs
            self.check = check
        }

        /// The next record; nil when the task is cancelled or the consumer closed.
        public mutating func next() async throws(ClientError) -> ConsumerRecord? {
            while true {
                if let record = try nextBuffered() { return record }
                if Task.isCancelled { return nil }
                if let failure = check?() { throw failure }
                do {
                    current = try await consumer.poll(timeoutMs: pollTimeoutMs)
                } catch {
                    if case .closed = error { return nil }
                    throw error
                }
                chunkIndex = 0
                batchIndex = 0
                records = nil
            }
        }

        private mutating func nextBuffered() throws(ClientError) -> ConsumerRecord? {
            while chunkIndex < current.partitions.count {
                let chunk = current.partitions[chunkIndex]
                if records == nil {
                    guard batchIndex < chunk.batches.count else {
                        chunkIndex += 1
                        batchIndex = 0
                        continue
                    }
                    do {
                        records = try chunk.batches[batchIndex].makeRecordIterator(verifyChecksum: false, context: consumer.fetcher.context)
                    } catch {
                        chunkIndex += 1
                        batchIndex = 0
                        throw .corruptRecords(chunk.partition, reason: error.description)
                    }
                    batchIndex += 1
                }
                do {
                    while let record = try records?.next() {
                        if record.offset >= chunk.fromOffset {
                            return ConsumerRecord(topic: chunk.partition.topic, partition: chunk.partition.partition, record: record)
                        }
                    }
                } catch {
                    records = nil
                    throw .corruptRecords(chunk.partition, reason: error.description)
                }
                records = nil
            }
            return nil
        }
    }
}
