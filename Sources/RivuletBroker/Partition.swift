import DequeModule
import Logging
import NIOCore
import RivuletCore
import RivuletStorage
import RivuletWire
import Synchronization

/// How far a read may go in a partition's log.
public enum FetchIsolation: Sendable, Hashable {
    /// Consumers: up to the high watermark (committed records). Without transactions the last stable
    /// offset equals the high watermark, so read_committed reads the same.
    case highWatermark
    /// Followers (and debugging tools): up to the log end offset.
    case logEnd
}

/// What a leader append stored (or, for a duplicate of an idempotent producer, stored earlier).
public struct PartitionAppendResult: Sendable, Hashable {
    /// The offset of the batch's first record.
    public var baseOffset: Int64
    /// The offset of the batch's last record.
    public var lastOffset: Int64
    /// The broker's timestamp when the topic uses LogAppendTime, else -1.
    public var logAppendTimeMs: Int64
    /// The log start offset after the append.
    public var logStartOffset: Int64
    /// Whether the batch was a retry of one already stored (nothing was appended).
    public var isDuplicate: Bool
    /// The leader epoch the append happened in (acks=all waits are void once it changes).
    public var leaderEpoch: Int32 = -1
}

/// What a read returned, with the offsets a Fetch response reports.
public struct PartitionReadResult: Sendable {
    /// Whole stored batches, as stored (possibly starting before the requested offset).
    public var records: ByteBuffer
    /// The high watermark at the time of the read.
    public var highWatermark: Int64
    /// The last stable offset (the high watermark: there are no open transactions).
    public var lastStableOffset: Int64
    /// The log start offset at the time of the read.
    public var logStartOffset: Int64
    /// The log end offset at the time of the read.
    public var logEndOffset: Int64
}

/// A ListOffsets answer for one partition.
public struct OffsetLookup: Sendable, Hashable {
    /// The timestamp that selected the offset, -1 for the earliest and latest lookups.
    public var timestampMs: Int64
    /// The offset.
    public var offset: Int64
    /// The leader epoch in which that offset was written, -1 when unknown.
    public var leaderEpoch: Int32
}

/// One partition replica on this broker: its log, its role, its leader epoch and high watermark, the
/// state of idempotent producers, the leader epoch cache, and the operations waiting on it.
///
/// **Isolation.** The `LogStore` and all partition state live in one `Mutex`; every operation takes it
/// once (one lock per batch, never per record). The high watermark and the byte counters that waiting
/// fetches poll are also mirrored in atomics, so waiters never take the lock. Waiters are notified
/// after the lock is released.
///
/// **Roles.** On a single node every partition is the leader with ISR = [self], and the high watermark
/// is the log end offset after each append. In a cluster `applyLeadership` makes it leader or follower;
/// a leader tracks each follower's fetch state (`updateFollowerFetchState`) and its ISR (shrink and
/// expand proposals, `Partition+Replication.swift`); a follower appends what it fetched
/// (`appendAsFollower`) and truncates where its log diverges (`truncate(to:)`).
public final class Partition: Sendable {
    /// The partition.
    public let topicPartition: TopicPartition
    /// The topic's id.
    public let topicId: KafkaUUID
    /// This broker's node id.
    public let localBrokerId: Int32
    /// The operations (long-polling fetches, acks=all produces) waiting on this partition.
    public let watchers = OperationWatchers()

    let storage: any StorageEngine
    let clock: any EngineClock
    let logger: Logger
    let state: Mutex<State>

    let highWatermarkValue = Atomic<Int64>(0)
    let committedBytesValue = Atomic<Int64>(0)
    let appendedBytesValue = Atomic<Int64>(0)
    let stateVersionValue = Atomic<Int64>(0)
    private let maxMessageBytesValue = Atomic<Int>(0)
    private let onlineValue = Atomic<Bool>(false)
    let isLeaderValue = Atomic<Bool>(false)
    let leaderEpochValue = Atomic<Int32>(-1)
    let isrCountValue = Atomic<Int>(0)

    struct PendingCommit {
        /// The log end offset after an append.
        var nextOffset: Int64
        /// `appendedBytes` after that append.
        var appendedBytes: Int64
    }

    struct State {
        var log: (any LogStore)?
        var config: ResolvedTopicConfig
        var leaderId: Int32
        var leaderEpoch: Int32
        var replicas: [Int32]
        var isr: [Int32]
        /// The partition epoch of the state applied last (-1 before the first).
        var partitionEpoch: Int32 = -1
        /// An ISR change sent to the controller's store and not yet confirmed (Kafka's pending ISR):
        /// the high watermark counts the union of it and `isr`, so an expansion is safe at once and a
        /// shrink only once committed.
        var pendingIsr: [Int32]?
        /// What the leader knows of each follower, from its fetches.
        var followers: [Int32: FollowerFetchState] = [:]
        var highWatermark: Int64 = 0
        var producers: ProducerStateManager
        var epochCache: LeaderEpochCache
        var pendingCommits = Deque<PendingCommit>()
        var appendedBytes: Int64 = 0
        var failure: String?
        /// Offsets below this were compacted by the last cleaner pass (Kafka's cleaner checkpoint).
        var firstDirtyOffset: Int64 = 0
    }

    private init(topicPartition: TopicPartition, topicId: KafkaUUID, localBrokerId: Int32, storage: any StorageEngine,
                 clock: any EngineClock, logger: Logger, state: consuming sending State) {
        self.topicPartition = topicPartition
        self.topicId = topicId
        self.localBrokerId = localBrokerId
        self.storage = storage
        self.clock = clock
        self.logger = logger
        self.state = Mutex(state)
    }

    /// Opens (creating when missing) the partition's log and rebuilds its state: from the snapshot of
    /// a clean shutdown when it matches the log, else by reading the batch headers of at most
    /// `recoveryOffsetsMax` offsets at the end of the log.
    ///
    /// - Throws: the storage failure as a `KafkaApiError` (KAFKA_STORAGE_ERROR, INVALID_CONFIG...).
    public static func open(topicPartition: TopicPartition, topicId: KafkaUUID, metadata: PartitionMetadata,
                            config: ResolvedTopicConfig, storage: any StorageEngine, localBrokerId: Int32,
                            clock: any EngineClock, logger: Logger, recoveryOffsetsMax: Int64) throws(KafkaApiError) -> Partition {
        let log: any LogStore
        do throws(StorageError) {
            log = try storage.openLog(topicPartition, config: config.logConfig)
        } catch {
            throw KafkaApiError(error)
        }
        var producers = ProducerStateManager()
        var epochCache = LeaderEpochCache()
        do throws(StorageError) {
            let documentName = PartitionStateSnapshot.documentName(topicId: topicId, partition: topicPartition.partition)
            var snapshot: PartitionStateSnapshot?
            if let bytes = try storage.loadDocument(named: documentName) {
                do {
                    snapshot = try PartitionStateSnapshot.decode(bytes)
                } catch {
                    logger.warning("ignoring unreadable state snapshot of \(topicPartition): \(error)")
                }
            }
            if let snapshot, snapshot.logEndOffset == log.logEndOffset {
                producers = snapshot.producers
                epochCache = snapshot.epochCache
                epochCache.truncateFromStart(log.logStartOffset)
            } else {
                let (from, overflow) = log.logEndOffset.subtractingReportingOverflow(max(0, recoveryOffsetsMax))
                let start = max(log.logStartOffset, overflow ? log.logStartOffset : from)
                try scanBatchHeaders(of: log, from: start) { header in
                    producers.record(header, firstOffset: header.baseOffset, lastOffset: header.lastOffset)
                    epochCache.assign(epoch: header.partitionLeaderEpoch, startOffset: header.baseOffset)
                }
            }
        } catch {
            try? log.close()
            throw KafkaApiError(error)
        }
        let logEndOffset = log.logEndOffset
        let state = State(log: log, config: config, leaderId: metadata.leader, leaderEpoch: metadata.leaderEpoch,
                          replicas: metadata.replicas, isr: metadata.isr, producers: producers, epochCache: epochCache)
        let partition = Partition(topicPartition: topicPartition, topicId: topicId, localBrokerId: localBrokerId,
                                  storage: storage, clock: clock, logger: logger, state: state)
        partition.maxMessageBytesValue.store(config.maxMessageBytes, ordering: .relaxed)
        partition.onlineValue.store(true, ordering: .releasing)
        partition.applyLeadership(metadata, logEndOffset: logEndOffset)
        return partition
    }

    /// Reads every batch header from `offset` to the log end, in order.
    static func scanBatchHeaders(of log: any LogStore, from offset: Int64,
                                         _ visit: (RecordBatchHeader) -> Void) throws(StorageError) {
        var next = offset
        while next < log.logEndOffset {
            let result = try log.read(from: next, maxBytes: 1 << 20, maxOffset: nil)
            var iterator = RecordBatchSequence(result.records, mode: .allowPartialTail).makeIterator()
            while let batch = iterator.next() { visit(batch.header) }
            guard result.nextOffset > next else { break }
            next = result.nextOffset
        }
    }

    // MARK: State readers (lock-free where waiters poll)

    /// The high watermark: consumers read below it.
    public var highWatermark: Int64 { highWatermarkValue.load(ordering: .acquiring) }
    /// Bytes appended below the high watermark since the partition opened (for waiting fetches).
    public var committedBytes: Int64 { committedBytesValue.load(ordering: .acquiring) }
    /// Bytes appended since the partition opened (for waiting follower fetches).
    public var appendedBytes: Int64 { appendedBytesValue.load(ordering: .acquiring) }
    /// A counter bumped on every change other than an append (leadership, closing, log start moves),
    /// so a waiting fetch can answer at once with the new state.
    public var stateVersion: Int64 { stateVersionValue.load(ordering: .acquiring) }
    /// Whether the partition's log is open.
    public var isOnline: Bool { onlineValue.load(ordering: .acquiring) }
    /// `max.message.bytes` of the topic.
    public var maxMessageBytes: Int { maxMessageBytesValue.load(ordering: .relaxed) }

    /// The log start offset, or nil when the log is closed.
    public var logStartOffset: Int64? { state.withLock { $0.log?.logStartOffset } }
    /// The log end offset, or nil when the log is closed.
    public var logEndOffset: Int64? { state.withLock { $0.log?.logEndOffset } }
    /// Bytes stored in the log across its segments, or nil when the log is closed (a metrics gauge).
    public var logSizeBytes: Int64? { state.withLock { $0.log?.sizeBytes } }
    /// The current leader epoch.
    public var leaderEpoch: Int32 { state.withLock { $0.leaderEpoch } }
    /// The in-sync replicas.
    public var isr: [Int32] { state.withLock { $0.isr } }
    /// The settings in effect.
    public var config: ResolvedTopicConfig { state.withLock { $0.config } }
    /// The idempotent producers' state (for tests and tools).
    public var producerState: ProducerStateManager { state.withLock { $0.producers } }
    /// The leader epoch cache (for tests and tools).
    public var epochCache: LeaderEpochCache { state.withLock { $0.epochCache } }

    // MARK: Leadership

    /// Applies a leadership change from the cluster metadata: leader, epoch, replicas and ISR. A state
    /// older than the one applied (lower leader epoch, or the same epoch with a lower partition epoch)
    /// is ignored. When this broker becomes leader of a new epoch, the epoch starts at the log end
    /// offset and every follower's fetch state is forgotten (the high watermark waits for their next
    /// fetches); a follower's high watermark never exceeds its log end.
    public func applyLeadership(_ metadata: PartitionMetadata) {
        let logEndOffset = state.withLock { $0.log?.logEndOffset ?? 0 }
        applyLeadership(metadata, logEndOffset: logEndOffset)
    }

    private func applyLeadership(_ metadata: PartitionMetadata, logEndOffset: Int64) {
        let nowMs = clock.wallMilliseconds()
        let applied = state.withLock { state -> Bool in
            if metadata.leaderEpoch < state.leaderEpoch { return false }
            if metadata.leaderEpoch == state.leaderEpoch, state.partitionEpoch >= 0, metadata.partitionEpoch < state.partitionEpoch {
                return false
            }
            let newEpoch = metadata.leaderEpoch != state.leaderEpoch || state.partitionEpoch < 0
            let wasLeader = state.leaderId == localBrokerId
            state.leaderId = metadata.leader
            state.replicas = metadata.replicas
            state.isr = metadata.isr
            state.partitionEpoch = metadata.partitionEpoch
            state.pendingIsr = nil
            if metadata.leader == localBrokerId {
                state.epochCache.assign(epoch: metadata.leaderEpoch, startOffset: state.log?.logEndOffset ?? logEndOffset)
                if newEpoch || !wasLeader {
                    // Kafka's makeLeader: remote replicas' end offsets become unknown; ISR members count
                    // as caught up now, so they are not dropped before they can fetch.
                    state.followers = [:]
                    for replica in metadata.replicas where replica != localBrokerId {
                        state.followers[replica] = FollowerFetchState(
                            logEndOffset: -1, lastCaughtUpTimeMs: metadata.isr.contains(replica) ? nowMs : -1,
                            lastFetchLeaderLogEndOffset: -1, lastFetchTimeMs: -1)
                    }
                }
            } else {
                state.followers = [:]
                if let log = state.log { state.highWatermark = min(state.highWatermark, log.logEndOffset) }
                highWatermarkValue.store(state.highWatermark, ordering: .releasing)
            }
            state.leaderEpoch = metadata.leaderEpoch
            isLeaderValue.store(metadata.leader == localBrokerId, ordering: .releasing)
            leaderEpochValue.store(metadata.leaderEpoch, ordering: .releasing)
            isrCountValue.store(metadata.isr.count, ordering: .releasing)
            advanceHighWatermark(&state)
            return true
        }
        guard applied else { return }
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
    }

    /// Records a follower's fetch (Kafka's `updateFollowerFetchState`): its log end offset is the
    /// fetch offset; it was caught up at this fetch if it asked for the leader's log end, or at its
    /// previous fetch if it asked for at least what the leader's end was then. Moves the high watermark
    /// to the smallest log end offset among the in-sync replicas. Returns an ISR expansion to propose
    /// when the follower is out of the ISR and has caught up with the high watermark (and the current
    /// epoch's start), nil otherwise.
    @discardableResult
    public func updateFollowerFetchState(replicaId: Int32, fetchOffset: Int64, fetchTimeMs: Int64) -> IsrChange? {
        let (advanced, expansion) = state.withLock { state -> (Bool, IsrChange?) in
            guard let log = state.log, state.leaderId == localBrokerId, state.replicas.contains(replicaId),
                  replicaId != localBrokerId else { return (false, nil) }
            let leaderEnd = log.logEndOffset
            var follower = state.followers[replicaId]
                ?? FollowerFetchState(logEndOffset: -1, lastCaughtUpTimeMs: -1, lastFetchLeaderLogEndOffset: -1, lastFetchTimeMs: -1)
            if fetchOffset >= leaderEnd {
                follower.lastCaughtUpTimeMs = max(follower.lastCaughtUpTimeMs, fetchTimeMs)
            } else if follower.lastFetchLeaderLogEndOffset >= 0, fetchOffset >= follower.lastFetchLeaderLogEndOffset {
                follower.lastCaughtUpTimeMs = max(follower.lastCaughtUpTimeMs, follower.lastFetchTimeMs)
            }
            follower.logEndOffset = min(fetchOffset, leaderEnd)
            follower.lastFetchLeaderLogEndOffset = leaderEnd
            follower.lastFetchTimeMs = fetchTimeMs
            state.followers[replicaId] = follower
            let advanced = advanceHighWatermark(&state)
            var expansion: IsrChange?
            if !state.isr.contains(replicaId), state.pendingIsr == nil,
               follower.logEndOffset >= state.highWatermark,
               follower.logEndOffset >= (state.epochCache.entries.last?.startOffset ?? 0) {
                let newIsr = state.isr + [replicaId]
                state.pendingIsr = newIsr
                expansion = IsrChange(topicPartition: topicPartition, leaderEpoch: state.leaderEpoch,
                                      partitionEpoch: state.partitionEpoch, isr: newIsr)
            }
            return (advanced, expansion)
        }
        if advanced { watchers.checkAll() }
        return expansion
    }

    /// Records how far a follower's log reaches (kept for callers without a fetch time: uses the clock).
    public func updateFollowerEndOffset(replicaId: Int32, logEndOffset: Int64) {
        updateFollowerFetchState(replicaId: replicaId, fetchOffset: logEndOffset, fetchTimeMs: clock.wallMilliseconds())
    }

    /// Moves the high watermark to the smallest log end offset among the in-sync replicas (and the
    /// pending ISR); returns whether it moved. Also credits the bytes now below it to `committedBytes`.
    @discardableResult
    func advanceHighWatermark(_ state: inout State) -> Bool {
        guard let log = state.log, state.leaderId == localBrokerId else { return false }
        var candidate = log.logEndOffset
        for replica in Set(state.isr + (state.pendingIsr ?? [])) where replica != localBrokerId {
            let known = state.followers[replica]?.logEndOffset ?? -1
            candidate = min(candidate, known >= 0 ? known : state.highWatermark)
        }
        candidate = max(candidate, log.logStartOffset)
        guard candidate > state.highWatermark || state.highWatermark > log.logEndOffset else { return false }
        state.highWatermark = min(candidate, log.logEndOffset)
        var committed = committedBytesValue.load(ordering: .relaxed)
        while let first = state.pendingCommits.first, first.nextOffset <= state.highWatermark {
            committed = first.appendedBytes
            state.pendingCommits.removeFirst()
        }
        committedBytesValue.store(committed, ordering: .releasing)
        highWatermarkValue.store(state.highWatermark, ordering: .releasing)
        return true
    }

    // MARK: Produce

    /// Appends one validated batch as the leader: checks leadership, `min.insync.replicas` (acks=all)
    /// and the idempotent producer's sequence; stamps the leader epoch (and LogAppendTime when the
    /// topic uses it); appends with the next offsets; moves the high watermark; wakes waiters.
    ///
    /// A retry of one of the producer's last five batches is not stored again: the result carries the
    /// original offsets and `isDuplicate`.
    ///
    /// - Throws: NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, INVALID_PRODUCER_EPOCH,
    ///   OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_RECORD, or the storage failure's code.
    public func appendAsLeader(_ batch: RecordBatch, requiredAcks: Int16) throws(KafkaApiError) -> PartitionAppendResult {
        let nowMs = clock.wallMilliseconds()
        let (result, appended) = try state.withLock { state throws(KafkaApiError) -> (PartitionAppendResult, Bool) in
            guard let log = state.log, state.leaderId == localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicPartition)")
            }
            if let failure = state.failure { throw KafkaApiError(.kafkaStorageError, failure) }
            if requiredAcks == -1, state.isr.count < Int(state.config.minInsyncReplicas) {
                throw KafkaApiError(.notEnoughReplicas,
                                    "The size of the current ISR \(state.isr) is insufficient to satisfy the min.isr requirement of \(state.config.minInsyncReplicas) for partition \(topicPartition)")
            }
            if case let .duplicate(original) = try state.producers.check(batch.header) {
                return (PartitionAppendResult(baseOffset: original.firstOffset, lastOffset: original.lastOffset,
                                              logAppendTimeMs: -1, logStartOffset: log.logStartOffset, isDuplicate: true,
                                              leaderEpoch: state.leaderEpoch), false)
            }
            // The leader epoch is stamped by the store into its own copy (no copy-on-write of the
            // request's bytes here); LogAppendTime changes CRC'd bytes, so it is stamped on a copy.
            var stamped = batch
            var logAppendTimeMs: Int64 = -1
            if state.config.messageTimestampType == .logAppendTime {
                stamped.setLogAppendTime(nowMs)
                logAppendTimeMs = nowMs
            }
            let info: LogAppendInfo
            do throws(StorageError) {
                info = try log.append(stamped, assignOffsets: true, partitionLeaderEpoch: state.leaderEpoch)
            } catch {
                switch error {
                case .logFailed, .io, .corruptLog: state.failure = error.description
                default: break
                }
                throw KafkaApiError(error)
            }
            state.producers.record(stamped.header, firstOffset: info.firstOffset, lastOffset: info.lastOffset)
            state.epochCache.assign(epoch: state.leaderEpoch, startOffset: info.firstOffset)
            state.appendedBytes += Int64(info.sizeBytes)
            appendedBytesValue.store(state.appendedBytes, ordering: .releasing)
            state.pendingCommits.append(PendingCommit(nextOffset: info.logEndOffset, appendedBytes: state.appendedBytes))
            advanceHighWatermark(&state)
            return (PartitionAppendResult(baseOffset: info.firstOffset, lastOffset: info.lastOffset, logAppendTimeMs: logAppendTimeMs,
                                          logStartOffset: info.logStartOffset, isDuplicate: false, leaderEpoch: state.leaderEpoch), true)
        }
        if appended { watchers.checkAll() }
        return result
    }

    // MARK: Fetch

    /// Reads whole batches from `fetchOffset`, up to `maxBytes`, below the high watermark for
    /// consumers or the log end for followers. With `minOneMessage` the first batch comes whole even
    /// when larger than `maxBytes` (KIP-74); without it such a batch gives no bytes.
    ///
    /// - Throws: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH (when
    ///   `currentLeaderEpoch` >= 0 differs), OFFSET_OUT_OF_RANGE, KAFKA_STORAGE_ERROR.
    public func read(fetchOffset: Int64, maxBytes: Int, isolation: FetchIsolation, currentLeaderEpoch: Int32,
                     minOneMessage: Bool) throws(KafkaApiError) -> PartitionReadResult {
        try state.withLock { state throws(KafkaApiError) -> PartitionReadResult in
            guard let log = state.log, state.leaderId == localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicPartition)")
            }
            try Self.checkLeaderEpoch(currentLeaderEpoch, state.leaderEpoch)
            let limit = max(0, maxBytes)
            var records = ByteBuffer()
            let logStartOffset: Int64
            let logEndOffset: Int64
            if limit == 0 && !minOneMessage {
                // Nothing fits; still check the offset so the answer is the same as with room.
                guard fetchOffset >= log.logStartOffset, fetchOffset <= log.logEndOffset else {
                    throw KafkaApiError(.offsetOutOfRange,
                                        "offset \(fetchOffset) is out of range: the log holds [\(log.logStartOffset), \(log.logEndOffset))")
                }
                logStartOffset = log.logStartOffset
                logEndOffset = log.logEndOffset
            } else {
                let maxOffset: Int64? = isolation == .highWatermark ? state.highWatermark : nil
                let result: LogReadResult
                do throws(StorageError) {
                    result = try log.read(from: fetchOffset, maxBytes: limit, maxOffset: maxOffset)
                } catch {
                    throw KafkaApiError(error)
                }
                if minOneMessage || result.records.readableBytes <= limit { records = result.records }
                logStartOffset = result.logStartOffset
                logEndOffset = result.logEndOffset
            }
            return PartitionReadResult(records: records, highWatermark: state.highWatermark,
                                       lastStableOffset: state.highWatermark, logStartOffset: logStartOffset,
                                       logEndOffset: logEndOffset)
        }
    }

    static func checkLeaderEpoch(_ requested: Int32, _ current: Int32) throws(KafkaApiError) {
        guard requested >= 0 else { return }
        if requested < current {
            throw KafkaApiError(.fencedLeaderEpoch, "The request's leader epoch \(requested) is older than the current \(current)")
        }
        if requested > current {
            throw KafkaApiError(.unknownLeaderEpoch, "The request's leader epoch \(requested) is newer than the current \(current)")
        }
    }

    // MARK: ListOffsets, OffsetForLeaderEpoch

    /// Kafka's ListOffsets for one partition: -2 (and -4) earliest, -1 latest (the high watermark for
    /// consumers, the log end for others), -3 the batch with the largest timestamp, >= 0 the first
    /// batch with a timestamp at least that. Returns nil when no offset qualifies (answered as -1).
    ///
    /// - Throws: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH, KAFKA_STORAGE_ERROR.
    public func lookupOffset(timestampMs: Int64, isolation: FetchIsolation, currentLeaderEpoch: Int32) throws(KafkaApiError) -> OffsetLookup? {
        try state.withLock { state throws(KafkaApiError) -> OffsetLookup? in
            guard let log = state.log, state.leaderId == localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicPartition)")
            }
            try Self.checkLeaderEpoch(currentLeaderEpoch, state.leaderEpoch)
            let upperBound = isolation == .highWatermark ? state.highWatermark : log.logEndOffset
            switch timestampMs {
            case TimestampAndOffset.Special.earliestTimestamp, -4:
                let offset = log.logStartOffset
                return OffsetLookup(timestampMs: -1, offset: offset, leaderEpoch: state.epochCache.epoch(forOffset: offset))
            case TimestampAndOffset.Special.latestTimestamp:
                return OffsetLookup(timestampMs: -1, offset: upperBound,
                                    leaderEpoch: state.epochCache.latestEpoch ?? LeaderEpochCache.undefinedEpoch)
            case TimestampAndOffset.Special.maxTimestamp, 0...:
                let found: TimestampAndOffset?
                do throws(StorageError) {
                    found = try log.offset(forTimestamp: timestampMs)
                } catch {
                    throw KafkaApiError(error)
                }
                // The storage answers with the exact record (the first at or after the timestamp).
                guard let found, found.offset < upperBound else { return nil }
                return OffsetLookup(timestampMs: found.timestampMs, offset: found.offset,
                                    leaderEpoch: state.epochCache.epoch(forOffset: found.offset))
            default:
                // -5 (earliest pending upload, tiered storage) and unknown specials: nothing qualifies.
                return nil
            }
        }
    }

    /// OffsetForLeaderEpoch: the largest epoch at most `leaderEpoch` and where it ends (the log end
    /// offset for the latest epoch, as in Kafka, for followers and consumers alike).
    ///
    /// - Throws: NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH.
    public func endOffset(forLeaderEpoch leaderEpoch: Int32, currentLeaderEpoch: Int32) throws(KafkaApiError) -> (epoch: Int32, endOffset: Int64) {
        try state.withLock { state throws(KafkaApiError) -> (epoch: Int32, endOffset: Int64) in
            guard let log = state.log, state.leaderId == localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicPartition)")
            }
            try Self.checkLeaderEpoch(currentLeaderEpoch, state.leaderEpoch)
            return state.epochCache.endOffset(for: leaderEpoch, logEndOffset: log.logEndOffset)
        }
    }

    // MARK: DeleteRecords, retention, flush

    /// Kafka's DeleteRecords: moves the log start offset to `offset` (-1: the high watermark).
    /// Returns the low watermark (the log start offset afterwards).
    ///
    /// - Throws: OFFSET_OUT_OF_RANGE when `offset` is negative (other than -1) or above the high
    ///   watermark, NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR.
    public func deleteRecords(before offset: Int64) throws(KafkaApiError) -> Int64 {
        let lowWatermark = try state.withLock { state throws(KafkaApiError) -> Int64 in
            guard let log = state.log, state.leaderId == localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker is not the leader of \(topicPartition)")
            }
            let target = offset == -1 ? state.highWatermark : offset
            guard target >= 0, target <= state.highWatermark else {
                throw KafkaApiError(.offsetOutOfRange,
                                    "Cannot delete records of \(topicPartition) before offset \(offset): the high watermark is \(state.highWatermark)")
            }
            let start: Int64
            do throws(StorageError) {
                start = try log.deleteRecords(before: target)
            } catch {
                throw KafkaApiError(error)
            }
            state.epochCache.truncateFromStart(start)
            return start
        }
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
        return lowWatermark
    }

    /// One maintenance pass: retention (`retention.ms`, `retention.bytes`, never at or above the high
    /// watermark) when `cleanup.policy` has `delete`, compaction (`LogCleaner`) when it has
    /// `compact`, a time-based flush when due, and expiry of idle producers. Returns what retention deleted.
    ///
    /// - Throws: the storage failure as a `KafkaApiError`.
    @discardableResult
    public func runMaintenance(nowMs: Int64, producerIdExpirationMs: Int64) throws(KafkaApiError) -> RetentionResult? {
        let result = try state.withLock { state throws(KafkaApiError) -> RetentionResult? in
            guard let log = state.log else { return nil }
            do throws(StorageError) {
                // A compact-only topic keeps its segments whatever their age (Kafka's cleanup.policy).
                let result = state.config.deletes
                    ? try log.enforceRetention(nowMs: nowMs, highWatermark: state.highWatermark)
                    : RetentionResult(deletedSegments: [], logStartOffset: log.logStartOffset)
                if state.config.compacts { _ = try Self.compact(&state, log: log, nowMs: nowMs) }
                if !result.deletedSegments.isEmpty { state.epochCache.truncateFromStart(result.logStartOffset) }
                try log.flushIfDue(nowMs: nowMs)
                state.producers.removeExpired(nowMs: nowMs, expirationMs: producerIdExpirationMs)
                return result
            } catch {
                throw KafkaApiError(error)
            }
        }
        if let result, !result.deletedSegments.isEmpty {
            stateVersionValue.add(1, ordering: .releasing)
            watchers.checkAll()
        }
        return result
    }

    /// Compacts the log once when the topic's `cleanup.policy` contains `compact`: Kafka's log
    /// cleaner over the sealed segments below the high watermark (`LogCleaner`), under the
    /// partition's lock. Offsets do not change, so readers and producer state are unaffected.
    /// Returns nil for a topic that does not compact.
    ///
    /// - Throws: the storage failure as a `KafkaApiError` (the partition turns failed when the log does).
    /// The maintenance pass (`runMaintenance`) does this too for compacted topics.
    public func compact(nowMs: Int64) throws(KafkaApiError) -> LogCleaningResult? {
        try state.withLock { state throws(KafkaApiError) -> LogCleaningResult? in
            guard let log = state.log, state.config.compacts else { return nil }
            do throws(StorageError) {
                return try Self.compact(&state, log: log, nowMs: nowMs)
            } catch {
                if case .logFailed = error { state.failure = error.description }
                throw KafkaApiError(error)
            }
        }
    }

    private static func compact(_ state: inout State, log: any LogStore, nowMs: Int64) throws(StorageError) -> LogCleaningResult {
        let config = LogCleanerConfig(deleteRetentionMs: state.config.deleteRetentionMs,
                                      minCleanableDirtyRatio: state.config.minCleanableDirtyRatio)
        let result = try LogCleaner.clean(log, config: config, nowMs: nowMs, firstUncleanableOffset: state.highWatermark,
                                          firstDirtyOffset: state.firstDirtyOffset)
        state.firstDirtyOffset = result.cleanedUpToOffset
        return result
    }

    /// Flushes the log to durable storage.
    public func flush() throws(KafkaApiError) {
        try state.withLock { state throws(KafkaApiError) in
            do throws(StorageError) {
                try state.log?.flush()
            } catch {
                throw KafkaApiError(error)
            }
        }
    }

    // MARK: Configuration and lifecycle

    /// Applies new topic settings. When the storage settings change, the log is closed and reopened
    /// with them (its data stays; reopening after a clean close does not scan).
    ///
    /// - Throws: the storage failure; the partition is offline afterwards if reopening failed.
    public func reconfigure(_ config: ResolvedTopicConfig) throws(KafkaApiError) {
        try state.withLock { state throws(KafkaApiError) in
            let oldLogConfig = state.config.logConfig
            state.config = config
            maxMessageBytesValue.store(config.maxMessageBytes, ordering: .relaxed)
            guard config.logConfig != oldLogConfig, let log = state.log else { return }
            do throws(StorageError) {
                try log.close()
                state.log = nil
                state.log = try storage.openLog(topicPartition, config: config.logConfig)
            } catch {
                state.log = nil
                onlineValue.store(false, ordering: .releasing)
                state.failure = error.description
                throw KafkaApiError(error)
            }
        }
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
    }

    /// Closes the log: writes the state snapshot (unless the log is going to be deleted), closes the
    /// log, wakes every waiter, and deletes the log when `deleteLog` is set. Idempotent.
    public func close(deleteLog: Bool) {
        state.withLock { state in
            guard let log = state.log else { return }
            if !deleteLog && state.failure == nil {
                do {
                    try log.flush()
                    let snapshot = PartitionStateSnapshot(logEndOffset: log.logEndOffset, epochCache: state.epochCache,
                                                          producers: state.producers)
                    try storage.storeDocument(
                        named: PartitionStateSnapshot.documentName(topicId: topicId, partition: topicPartition.partition),
                        bytes: snapshot.encode())
                } catch {
                    logger.warning("could not write the state snapshot of \(topicPartition): \(error)")
                }
            }
            do {
                try log.close()
            } catch {
                logger.warning("closing the log of \(topicPartition) failed: \(error)")
            }
            state.log = nil
        }
        onlineValue.store(false, ordering: .releasing)
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
        if deleteLog {
            do {
                try storage.deleteLog(topicPartition)
                let name = PartitionStateSnapshot.documentName(topicId: topicId, partition: topicPartition.partition)
                if try storage.loadDocument(named: name) != nil { try storage.storeDocument(named: name, bytes: []) }
            } catch {
                logger.warning("deleting the log of \(topicPartition) failed: \(error)")
            }
        }
    }
}
