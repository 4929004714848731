import Logging
import NIOCore
import RivuletCore
import RivuletStorage
import RivuletWire
import Synchronization

/// One partition's part of a Produce request, before validation.
public struct ProduceEntry: Sendable {
    /// The partition to append to.
    public var topicPartition: TopicPartition
    /// The `records` field as received (one record batch v2).
    public var records: ByteBuffer?

    public init(topicPartition: TopicPartition, records: ByteBuffer?) {
        self.topicPartition = topicPartition
        self.records = records
    }
}

/// One partition's answer to a Produce request.
public struct ProducePartitionResult: Sendable {
    /// The failure, nil on success.
    public var error: KafkaApiError?
    /// The offset of the first record, -1 on failure.
    public var baseOffset: Int64 = -1
    /// The broker's timestamp with LogAppendTime, else -1.
    public var logAppendTimeMs: Int64 = -1
    /// The log start offset, -1 on failure.
    public var logStartOffset: Int64 = -1

    public init(error: KafkaApiError?) {
        self.error = error
    }
}

/// The request-wide settings of a Fetch.
public struct FetchParams: Sendable {
    /// The fetching replica's node id, -1 for consumers (followers read to the log end).
    public var replicaId: Int32
    /// How long to wait for `minBytes` (milliseconds).
    public var maxWaitMs: Int32
    /// The fewest bytes worth answering with.
    public var minBytes: Int32
    /// The most bytes in the whole response (the first batch of the first non-empty partition comes
    /// whole even if larger, unless `hardMaxBytesLimit`).
    public var maxBytes: Int32
    /// Fetch v0-2: no partition may exceed its limit, not even by one batch.
    public var hardMaxBytesLimit: Bool

    public init(replicaId: Int32 = -1, maxWaitMs: Int32, minBytes: Int32, maxBytes: Int32, hardMaxBytesLimit: Bool = false) {
        self.replicaId = replicaId
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.hardMaxBytesLimit = hardMaxBytesLimit
    }

    /// Whether the fetch comes from a follower replica.
    public var isFromFollower: Bool { replicaId >= 0 }
}

/// One partition of a Fetch.
public struct FetchPartitionRequest: Sendable {
    /// The partition.
    public var topicPartition: TopicPartition
    /// The offset to read from.
    public var fetchOffset: Int64
    /// The most bytes for this partition (the first batch may exceed it, KIP-74).
    public var partitionMaxBytes: Int32
    /// The leader epoch the client knows (v9+), -1 when not given.
    public var currentLeaderEpoch: Int32

    public init(topicPartition: TopicPartition, fetchOffset: Int64, partitionMaxBytes: Int32, currentLeaderEpoch: Int32 = -1) {
        self.topicPartition = topicPartition
        self.fetchOffset = fetchOffset
        self.partitionMaxBytes = partitionMaxBytes
        self.currentLeaderEpoch = currentLeaderEpoch
    }
}

/// One partition's answer to a Fetch.
public struct FetchPartitionResult: Sendable {
    /// The failure, nil on success.
    public var error: KafkaApiError?
    /// The high watermark (-1 on failure, as Kafka answers).
    public var highWatermark: Int64 = -1
    /// The last stable offset (-1 on failure).
    public var lastStableOffset: Int64 = -1
    /// The log start offset (-1 on failure).
    public var logStartOffset: Int64 = -1
    /// The batches read (empty on failure).
    public var records = ByteBuffer()

    public init(error: KafkaApiError?) {
        self.error = error
    }
}

/// What one maintenance pass deleted.
public struct MaintenanceSummary: Sendable, Hashable {
    /// Segments deleted by retention (time, size, or below the log start offset).
    public var deletedSegments = 0
    /// Their bytes, as the storage reports them.
    public var deletedBytes = 0

    public init() {}
}

/// The partitions this broker holds and the operations on them that span partitions: appends with
/// their acks, fetches with long polling, retention (Kafka's `ReplicaManager`).
///
/// Request handlers validate request shapes and resolve topics against the metadata; the replica
/// manager does the rest, so that followers and the controller (replication) can reuse it.
/// Thread-safe; it never holds its own lock while calling into a partition.
public final class ReplicaManager: Sendable {
    private let config: BrokerConfig
    private let storage: any StorageEngine
    private let partitions = Mutex<[TopicPartition: Partition]>([:])
    private let isrChangeHandlerValue = Mutex<(any IsrChangeHandler)?>(nil)
    private var logger: Logger { config.logger }

    /// Where leaders send ISR changes (nil on a single node: the ISR never changes there).
    public var isrChangeHandler: (any IsrChangeHandler)? {
        get { isrChangeHandlerValue.withLock { $0 } }
        set { isrChangeHandlerValue.withLock { $0 = newValue } }
    }

    /// The broker's settings.
    public var brokerConfig: BrokerConfig { config }

    /// A replica manager for the broker configured by `config`, keeping logs in `storage`.
    public init(config: BrokerConfig, storage: any StorageEngine) {
        self.config = config
        self.storage = storage
    }

    /// The partition, if this broker holds it.
    public func partition(_ topicPartition: TopicPartition) -> Partition? {
        partitions.withLock { $0[topicPartition] }
    }

    /// Every partition this broker holds.
    public var allPartitions: [Partition] {
        partitions.withLock { Array($0.values) }
    }

    /// Opens (creating when needed) the logs of `topic`'s partitions numbered in `partitionNumbers`
    /// (all when nil) and applies their leadership. Partitions already open only get the leadership.
    /// All or nothing: when one log cannot be opened, the ones opened by this call are closed.
    ///
    /// - Throws: the storage failure as a `KafkaApiError`.
    public func openPartitions(of topic: TopicMetadata, only partitionNumbers: Set<Int32>? = nil) throws(KafkaApiError) {
        let resolved = topic.config.resolved(with: config)
        var opened: [Partition] = []
        for metadata in topic.partitions where partitionNumbers?.contains(metadata.partition) ?? true {
            let topicPartition = TopicPartition(topic: topic.name, partition: metadata.partition)
            if let existing = partition(topicPartition) {
                existing.applyLeadership(metadata)
                continue
            }
            do throws(KafkaApiError) {
                let partition = try Partition.open(
                    topicPartition: topicPartition, topicId: topic.topicId, metadata: metadata, config: resolved,
                    storage: storage, localBrokerId: config.nodeId, clock: config.clock, logger: logger,
                    recoveryOffsetsMax: config.producerStateRecoveryOffsetsMax)
                partitions.withLock { $0[topicPartition] = partition }
                opened.append(partition)
            } catch {
                for partition in opened {
                    partitions.withLock { _ = $0.removeValue(forKey: partition.topicPartition) }
                    partition.close(deleteLog: true)
                }
                throw error
            }
        }
    }

    /// Stops holding the partitions: closes their logs (and deletes them with `deleteLogs`) and wakes
    /// whatever waits on them.
    public func stopPartitions(_ topicPartitions: [TopicPartition], deleteLogs: Bool) {
        let removed = partitions.withLock { partitions in
            topicPartitions.compactMap { partitions.removeValue(forKey: $0) }
        }
        for partition in removed { partition.close(deleteLog: deleteLogs) }
    }

    /// Applies new settings to every open partition of `topic`.
    ///
    /// - Throws: the first partition's failure to reopen its log with the new settings.
    public func reconfigure(topic: TopicMetadata) throws(KafkaApiError) {
        let resolved = topic.config.resolved(with: config)
        var firstError: KafkaApiError?
        for topicPartition in topic.topicPartitions {
            guard let partition = partition(topicPartition) else { continue }
            do throws(KafkaApiError) {
                try partition.reconfigure(resolved)
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }

    /// Closes every partition (writing their state snapshots). The broker calls this at shutdown.
    public func shutdown() {
        let all = partitions.withLock { partitions in
            defer { partitions.removeAll() }
            return Array(partitions.values)
        }
        for partition in all { partition.close(deleteLog: false) }
    }

    // MARK: Produce

    /// Validates and appends one batch per entry as the leader, then waits for acks=all.
    ///
    /// Per partition: the records must be exactly one record batch v2 (INVALID_RECORD otherwise; old
    /// magic UNSUPPORTED_FOR_MESSAGE_FORMAT) no larger than `max.message.bytes` (MESSAGE_TOO_LARGE),
    /// with a valid CRC and header (CORRUPT_MESSAGE); zstd needs Produce v7+
    /// (UNSUPPORTED_COMPRESSION_TYPE); producers may not write control batches (INVALID_RECORD) and
    /// transactions are not supported yet (INVALID_TXN_STATE). A failing partition does not affect the
    /// others. With acks=-1 the answer waits until the high watermark covers each batch, at most
    /// `timeoutMs` (then REQUEST_TIMED_OUT).
    public func appendRecords(_ entries: [ProduceEntry], requiredAcks: Int16, timeoutMs: Int32,
                              produceVersion: Int16) async -> [ProducePartitionResult] {
        var results: [ProducePartitionResult] = []
        results.reserveCapacity(entries.count)
        var awaiting: [(index: Int, partition: Partition, requiredOffset: Int64, epoch: Int32, minIsr: Int)] = []
        for entry in entries {
            guard let partition = partition(entry.topicPartition) else {
                results.append(ProducePartitionResult(error: KafkaApiError(.notLeaderOrFollower,
                                                                          "This broker does not hold \(entry.topicPartition)")))
                continue
            }
            do throws(KafkaApiError) {
                let batch = try Self.validateProduceRecords(entry.records, maxMessageBytes: partition.maxMessageBytes,
                                                            produceVersion: produceVersion)
                let appended = try partition.appendAsLeader(batch, requiredAcks: requiredAcks)
                var result = ProducePartitionResult(error: nil)
                result.baseOffset = appended.baseOffset
                result.logAppendTimeMs = appended.logAppendTimeMs
                result.logStartOffset = appended.logStartOffset
                if requiredAcks == -1, partition.highWatermark <= appended.lastOffset || !partition.isLeader {
                    awaiting.append((results.count, partition, appended.lastOffset + 1, appended.leaderEpoch,
                                     Int(partition.config.minInsyncReplicas)))
                }
                results.append(result)
            } catch {
                results.append(ProducePartitionResult(error: error))
            }
        }
        guard !awaiting.isEmpty else { return results }
        let targets = awaiting.map { ($0.partition, $0.requiredOffset, $0.epoch, $0.minIsr) }
        _ = await DelayedOperations.wait(
            until: {
                targets.allSatisfy { partition, required, epoch, minIsr in
                    partition.replicationOutcome(requiredOffset: required, appendEpoch: epoch, minInsyncReplicas: minIsr) != .pending
                }
            },
            watching: awaiting.map(\.partition.watchers), timeoutMs: Int64(timeoutMs), clock: config.clock)
        for (index, partition, required, epoch, minIsr) in awaiting {
            let error: KafkaApiError
            switch partition.replicationOutcome(requiredOffset: required, appendEpoch: epoch, minInsyncReplicas: minIsr) {
            case .replicated:
                continue
            case .replicatedBelowMinIsr:
                error = KafkaApiError(.notEnoughReplicasAfterAppend,
                                      "The ISR of \(partition.topicPartition) shrank below min.insync.replicas \(minIsr) after the append")
            case .leadershipLost:
                error = KafkaApiError(.notLeaderOrFollower,
                                      "\(partition.topicPartition) changed leader or went offline before the write was replicated")
            case .pending:
                error = KafkaApiError(.requestTimedOut, "The high watermark did not reach offset \(required) within \(timeoutMs) ms")
            }
            var failed = ProducePartitionResult(error: error)
            failed.baseOffset = -1
            results[index] = failed
        }
        return results
    }

    /// The produce checks of one partition's `records`, in Kafka's order: shape, size, CRC and header,
    /// compression, control and transactional flags.
    static func validateProduceRecords(_ records: ByteBuffer?, maxMessageBytes: Int,
                                       produceVersion: Int16) throws(KafkaApiError) -> RecordBatch {
        guard let records, records.readableBytes > 0 else {
            throw KafkaApiError(.invalidRecord, "Produce requests must contain exactly one record batch; this one has none")
        }
        var iterator = RecordBatchSequence(records, mode: .strict).makeIterator()
        guard let batch = iterator.next() else {
            throw KafkaApiError(iterator.failure ?? .truncated(position: 0, needed: RecordBatchLayout.headerSize, available: records.readableBytes))
        }
        if let failure = iterator.failure { throw KafkaApiError(failure) }
        guard iterator.next() == nil, iterator.failure == nil else {
            throw KafkaApiError(.invalidRecord,
                                "Produce requests with version \(produceVersion) are only allowed to contain exactly one record batch")
        }
        guard batch.header.totalSize <= maxMessageBytes else {
            throw KafkaApiError(.messageTooLarge,
                                "The record batch of \(batch.header.totalSize) bytes is larger than max.message.bytes \(maxMessageBytes)")
        }
        do throws(RecordBatchError) {
            try batch.validateForProduce()
        } catch {
            throw KafkaApiError(error)
        }
        let attributes = batch.header.attributes
        // Records are not decoded on the way in; an uncompressed batch can at least not claim more
        // records than its bytes hold (the smallest record is 7 bytes), which would waste offsets.
        if attributes.compression == CompressionCodec.none,
           Int(batch.header.recordCount) > (batch.header.totalSize - RecordBatchLayout.headerSize) / 7 {
            throw KafkaApiError(.corruptMessage,
                                "recordCount \(batch.header.recordCount) cannot fit in \(batch.header.totalSize) bytes")
        }
        if attributes.compression == .zstd, produceVersion < 7 {
            throw KafkaApiError(.unsupportedCompressionType, "Produce requests with version \(produceVersion) may not use zstd")
        }
        if attributes.isControl {
            throw KafkaApiError(.invalidRecord, "Clients are not allowed to write control records")
        }
        if attributes.isTransactional {
            throw KafkaApiError(.invalidTxnState, "Transactional batches are not supported yet")
        }
        return batch
    }

    // MARK: Fetch

    /// Reads the partitions, and when fewer than `minBytes` are available waits (up to `maxWaitMs`)
    /// until appends on any of them make enough available, or a partition changes state; then reads
    /// again. Results are in request order.
    public func fetchMessages(_ params: FetchParams, _ requests: [FetchPartitionRequest]) async -> [FetchPartitionResult] {
        let isolation: FetchIsolation = params.isFromFollower ? .logEnd : .highWatermark
        let first = readFromLocalLog(params, requests, isolation: isolation)
        guard params.maxWaitMs > 0, first.bytes < Int(params.minBytes), !first.anyError, !requests.isEmpty else {
            return first.results
        }
        let watched = requests.compactMap { partition($0.topicPartition) }
        guard !watched.isEmpty else { return first.results }
        let follower = params.isFromFollower
        let baselines = watched.map { (partition: $0, bytes: follower ? $0.appendedBytes : $0.committedBytes, version: $0.stateVersion) }
        let needed = Int64(params.minBytes) - Int64(first.bytes)
        let outcome = await DelayedOperations.wait(
            until: {
                var accumulated: Int64 = 0
                for baseline in baselines {
                    if baseline.partition.stateVersion != baseline.version || !baseline.partition.isOnline { return true }
                    let now = follower ? baseline.partition.appendedBytes : baseline.partition.committedBytes
                    accumulated += now - baseline.bytes
                }
                return accumulated >= needed
            },
            watching: watched.map(\.watchers), timeoutMs: Int64(params.maxWaitMs), clock: config.clock)
        if outcome == .cancelled { return first.results }
        return readFromLocalLog(params, requests, isolation: isolation).results
    }

    private func readFromLocalLog(_ params: FetchParams, _ requests: [FetchPartitionRequest],
                                  isolation: FetchIsolation) -> (results: [FetchPartitionResult], bytes: Int, anyError: Bool) {
        var results: [FetchPartitionResult] = []
        results.reserveCapacity(requests.count)
        var remaining = max(0, Int(params.maxBytes))
        var minOneMessage = !params.hardMaxBytesLimit
        var total = 0
        var anyError = false
        for request in requests {
            guard let partition = partition(request.topicPartition) else {
                results.append(FetchPartitionResult(error: KafkaApiError(.notLeaderOrFollower,
                                                                         "This broker does not hold \(request.topicPartition)")))
                anyError = true
                continue
            }
            if params.isFromFollower,
               let expansion = partition.updateFollowerFetchState(replicaId: params.replicaId, fetchOffset: request.fetchOffset,
                                                                  fetchTimeMs: config.clock.wallMilliseconds()) {
                if let handler = isrChangeHandler {
                    handler.propose(expansion, partition: partition)
                } else {
                    partition.abortIsrChange(expansion)
                }
            }
            do throws(KafkaApiError) {
                let read = try partition.read(fetchOffset: request.fetchOffset,
                                              maxBytes: min(max(0, Int(request.partitionMaxBytes)), remaining),
                                              isolation: isolation, currentLeaderEpoch: request.currentLeaderEpoch,
                                              minOneMessage: minOneMessage)
                var result = FetchPartitionResult(error: nil)
                result.highWatermark = read.highWatermark
                result.lastStableOffset = read.lastStableOffset
                result.logStartOffset = read.logStartOffset
                result.records = read.records
                let size = read.records.readableBytes
                if size > 0 { minOneMessage = false }
                remaining = max(0, remaining - size)
                total += size
                results.append(result)
            } catch {
                results.append(FetchPartitionResult(error: error))
                anyError = true
            }
        }
        return (results, total, anyError)
    }

    // MARK: ISR

    /// Kafka's periodic `maybeShrinkIsr`: every partition this broker leads proposes to drop the
    /// followers that have not caught up within `replica.lag.time.max.ms`. Returns the proposals made.
    @discardableResult
    public func shrinkLaggingIsrs() -> [IsrChange] {
        guard let handler = isrChangeHandler else { return [] }
        let nowMs = config.clock.wallMilliseconds()
        var changes: [IsrChange] = []
        for partition in allPartitions where partition.isLeader {
            guard let change = partition.proposeIsrShrink(nowMs: nowMs, lagTimeMaxMs: config.replicaLagTimeMaxMs) else { continue }
            logger.info("proposing ISR \(change.isr) for \(partition.topicPartition): followers lag more than \(config.replicaLagTimeMaxMs) ms")
            handler.propose(change, partition: partition)
            changes.append(change)
        }
        return changes
    }

    // MARK: Maintenance

    /// Runs retention, due flushes and producer expiry on every partition once. Failures are logged
    /// and do not stop the pass. Returns what retention deleted.
    @discardableResult
    public func runMaintenance() -> MaintenanceSummary {
        let nowMs = config.clock.wallMilliseconds()
        var summary = MaintenanceSummary()
        for partition in allPartitions {
            do throws(KafkaApiError) {
                if let result = try partition.runMaintenance(nowMs: nowMs, producerIdExpirationMs: config.producerIdExpirationMs) {
                    summary.deletedSegments += result.deletedSegments.count
                    summary.deletedBytes += result.deletedBytes
                }
            } catch {
                logger.warning("maintenance of \(partition.topicPartition) failed: \(error)")
            }
        }
        return summary
    }
}
