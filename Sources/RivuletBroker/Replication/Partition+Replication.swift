import NIOCore
import RivuletStorage
import RivuletWire

/// What a leader knows of one follower, from its fetches (Kafka's `Replica` state).
public struct FollowerFetchState: Sendable, Hashable {
    /// The follower's log end offset (its last fetch offset), -1 while unknown.
    public var logEndOffset: Int64
    /// The last time (wall clock, ms) the follower was caught up with the leader's log end, -1 never.
    public var lastCaughtUpTimeMs: Int64
    /// The leader's log end offset at the follower's previous fetch, -1 before the first.
    public var lastFetchLeaderLogEndOffset: Int64
    /// The time (ms) of the follower's previous fetch, -1 before the first.
    public var lastFetchTimeMs: Int64

    /// A follower's fetch state.
    public init(logEndOffset: Int64, lastCaughtUpTimeMs: Int64, lastFetchLeaderLogEndOffset: Int64, lastFetchTimeMs: Int64) {
        self.logEndOffset = logEndOffset
        self.lastCaughtUpTimeMs = lastCaughtUpTimeMs
        self.lastFetchLeaderLogEndOffset = lastFetchLeaderLogEndOffset
        self.lastFetchTimeMs = lastFetchTimeMs
    }
}

/// A leader's proposal to change a partition's ISR (Kafka's AlterPartition), written to the
/// coordination store conditionally on `partitionEpoch` by an `IsrChangeHandler`.
public struct IsrChange: Sendable, Hashable {
    /// The partition.
    public var topicPartition: TopicPartition
    /// The leader epoch the proposal was made in (a proposal of an older epoch is dropped).
    public var leaderEpoch: Int32
    /// The partition epoch the proposal is based on (the store must still be at it).
    public var partitionEpoch: Int32
    /// The proposed ISR, leader included.
    public var isr: [Int32]

    /// A proposal to set `topicPartition`'s ISR to `isr`.
    public init(topicPartition: TopicPartition, leaderEpoch: Int32, partitionEpoch: Int32, isr: [Int32]) {
        self.topicPartition = topicPartition
        self.leaderEpoch = leaderEpoch
        self.partitionEpoch = partitionEpoch
        self.isr = isr
    }
}

/// Makes ISR changes durable (in a cluster: the partition's state znode) and reports the outcome back
/// to the partition (`Partition.completeIsrChange` / `abortIsrChange`). Thread-safe; `propose` must
/// not block (it starts the write and returns).
public protocol IsrChangeHandler: Sendable {
    /// Starts writing `change`; the handler later calls `completeIsrChange` or `abortIsrChange` on `partition`.
    func propose(_ change: IsrChange, partition: Partition)
}

/// How an acks=all produce stands against the partition's replication.
public enum ReplicationOutcome: Sendable, Hashable {
    /// The high watermark has not reached the batch yet.
    case pending
    /// Every in-sync replica has the batch.
    case replicated
    /// Replicated, but the ISR shrank below `min.insync.replicas` meanwhile (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
    case replicatedBelowMinIsr
    /// The partition changed leader or leader epoch since the append: the batch's fate is unknown here.
    case leadershipLost
}

/// What a follower needs to build its fetch and truncation requests.
public struct FollowerLogState: Sendable, Hashable {
    /// The log end offset (the next fetch offset).
    public var logEndOffset: Int64
    /// The log start offset.
    public var logStartOffset: Int64
    /// The newest leader epoch in the log's epoch cache, nil for a log without epochs.
    public var latestEpoch: Int32?
    /// The high watermark the follower knows.
    public var highWatermark: Int64
}

extension Partition {
    /// Whether this broker leads the partition (lock-free).
    public var isLeader: Bool { isLeaderValue.load(ordering: .acquiring) }

    /// The leader epoch applied last (lock-free).
    public var currentLeaderEpoch: Int32 { leaderEpochValue.load(ordering: .acquiring) }

    /// The partition epoch applied last.
    public var partitionEpoch: Int32 { state.withLock { $0.partitionEpoch } }

    /// The leader and replicas applied last.
    public var leaderAndReplicas: (leader: Int32, replicas: [Int32]) { state.withLock { ($0.leaderId, $0.replicas) } }

    /// The leader's view of its followers (for tests and tools).
    public var followerStates: [Int32: FollowerFetchState] { state.withLock { $0.followers } }

    /// Where an acks=all batch ending before `requiredOffset`, appended in `appendEpoch`, stands.
    /// Lock-free (atomics), so waiting produces can poll it on every partition event.
    public func replicationOutcome(requiredOffset: Int64, appendEpoch: Int32, minInsyncReplicas: Int) -> ReplicationOutcome {
        guard isOnline, isLeader, currentLeaderEpoch == appendEpoch else { return .leadershipLost }
        guard highWatermark >= requiredOffset else { return .pending }
        return isrCountValue.load(ordering: .acquiring) < minInsyncReplicas ? .replicatedBelowMinIsr : .replicated
    }

    // MARK: ISR changes (leader)

    /// Kafka's `maybeShrinkIsr`: the ISR followers that have not caught up for more than
    /// `lagTimeMaxMs` are proposed for removal (the leader always stays). Nil when nothing lags, when
    /// this broker does not lead, or when a change is already pending.
    public func proposeIsrShrink(nowMs: Int64, lagTimeMaxMs: Int64) -> IsrChange? {
        state.withLock { state -> IsrChange? in
            guard state.log != nil, state.leaderId == localBrokerId, state.pendingIsr == nil else { return nil }
            let lagging = state.isr.filter { replica in
                guard replica != localBrokerId else { return false }
                let caughtUp = state.followers[replica]?.lastCaughtUpTimeMs ?? -1
                return nowMs - caughtUp > lagTimeMaxMs
            }
            guard !lagging.isEmpty else { return nil }
            let newIsr = state.isr.filter { !lagging.contains($0) }
            state.pendingIsr = newIsr
            return IsrChange(topicPartition: topicPartition, leaderEpoch: state.leaderEpoch,
                             partitionEpoch: state.partitionEpoch, isr: newIsr)
        }
    }

    /// Applies an ISR change the store accepted, at its new partition epoch. Ignored when the partition
    /// moved on meanwhile (another epoch, or a newer state applied from the metadata).
    public func completeIsrChange(_ change: IsrChange, newPartitionEpoch: Int32) {
        let applied = state.withLock { state -> Bool in
            guard state.leaderEpoch == change.leaderEpoch, state.partitionEpoch <= newPartitionEpoch else {
                if state.pendingIsr == change.isr { state.pendingIsr = nil }
                return false
            }
            state.isr = change.isr
            state.partitionEpoch = newPartitionEpoch
            state.pendingIsr = nil
            isrCountValue.store(change.isr.count, ordering: .releasing)
            advanceHighWatermark(&state)
            return true
        }
        if applied {
            logger.info("ISR of \(topicPartition) is now \(change.isr) (partition epoch \(newPartitionEpoch))")
            stateVersionValue.add(1, ordering: .releasing)
            watchers.checkAll()
        }
    }

    /// Forgets a pending ISR change the store refused (a newer state will arrive with the metadata).
    public func abortIsrChange(_ change: IsrChange) {
        let changed = state.withLock { state -> Bool in
            guard state.pendingIsr == change.isr else { return false }
            state.pendingIsr = nil
            return advanceHighWatermark(&state)
        }
        if changed { watchers.checkAll() }
    }

    // MARK: Follower

    /// The follower's log positions.
    ///
    /// - Throws: KAFKA_STORAGE_ERROR when the log is closed.
    public func followerLogState() throws(KafkaApiError) -> FollowerLogState {
        try state.withLock { state throws(KafkaApiError) -> FollowerLogState in
            guard let log = state.log else { throw KafkaApiError(.kafkaStorageError, "The log of \(topicPartition) is closed") }
            return FollowerLogState(logEndOffset: log.logEndOffset, logStartOffset: log.logStartOffset,
                                    latestEpoch: state.epochCache.latestEpoch, highWatermark: state.highWatermark)
        }
    }

    /// This replica's own answer to OffsetForLeaderEpoch for `epoch` (KIP-279: a follower truncates to
    /// the smaller of the leader's end offset and its own for the epoch the leader returned).
    public func localEndOffset(forEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
        state.withLock { state in
            state.epochCache.endOffset(for: epoch, logEndOffset: state.log?.logEndOffset ?? 0)
        }
    }

    /// Appends batches fetched from the leader with their own offsets (and stamped epochs), records
    /// the epochs in the cache and the producers' state, moves the log start up to the leader's
    /// (`leaderLogStartOffset`, -1: unknown) and the high watermark to min(leader's high watermark,
    /// log end). Returns the bytes appended.
    ///
    /// - Throws: NOT_LEADER_OR_FOLLOWER when this broker leads the partition, or the storage failure
    ///   (offsets that do not continue the log, a corrupt batch).
    @discardableResult
    public func appendAsFollower(_ records: ByteBuffer, leaderHighWatermark: Int64,
                                 leaderLogStartOffset: Int64 = -1) throws(KafkaApiError) -> Int {
        let appended = try state.withLock { state throws(KafkaApiError) -> Int in
            guard let log = state.log else { throw KafkaApiError(.kafkaStorageError, "The log of \(topicPartition) is closed") }
            guard state.leaderId != localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker leads \(topicPartition); it does not follow")
            }
            var size = 0
            var records = records
            // Batches the log already has are skipped; a batch straddling the log end (the leader's
            // batches are cut differently below a divergence) replaces the local tail from its start.
            var skip = 0
            var straddlingBase: Int64?
            var scan = RecordBatchSequence(records, mode: .allowPartialTail).makeIterator()
            while let batch = scan.next() {
                if batch.header.lastOffset < log.logEndOffset {
                    skip += batch.header.totalSize
                    continue
                }
                if batch.header.baseOffset < log.logEndOffset { straddlingBase = batch.header.baseOffset }
                break
            }
            records.moveReaderIndex(forwardBy: min(skip, records.readableBytes))
            if let straddlingBase {
                do throws(StorageError) {
                    let end = try log.truncate(to: straddlingBase)
                    state.epochCache.truncateFromEnd(end)
                } catch {
                    throw KafkaApiError(error)
                }
            }
            if records.readableBytes > 0 {
                let info: LogAppendInfo
                do throws(StorageError) {
                    info = try log.append(records: records, assignOffsets: false)
                } catch {
                    throw KafkaApiError(error)
                }
                var iterator = RecordBatchSequence(records, mode: .allowPartialTail).makeIterator()
                while let batch = iterator.next() {
                    state.producers.record(batch.header, firstOffset: batch.header.baseOffset, lastOffset: batch.header.lastOffset)
                    state.epochCache.assign(epoch: batch.header.partitionLeaderEpoch, startOffset: batch.header.baseOffset)
                }
                size = info.sizeBytes
                state.appendedBytes += Int64(size)
                appendedBytesValue.store(state.appendedBytes, ordering: .releasing)
            }
            // Kafka's `maybeIncrementLogStartOffset`: records the leader deleted (retention,
            // DeleteRecords) are deleted here too, so a later leadership does not bring them back.
            if leaderLogStartOffset > log.logStartOffset {
                do throws(StorageError) {
                    let start = try log.deleteRecords(before: min(leaderLogStartOffset, log.logEndOffset))
                    state.epochCache.truncateFromStart(start)
                } catch {
                    throw KafkaApiError(error)
                }
            }
            let newHighWatermark = min(leaderHighWatermark, log.logEndOffset)
            if newHighWatermark > state.highWatermark {
                state.highWatermark = newHighWatermark
                highWatermarkValue.store(newHighWatermark, ordering: .releasing)
                committedBytesValue.store(state.appendedBytes, ordering: .releasing)
            }
            return size
        }
        if appended > 0 { watchers.checkAll() }
        return appended
    }

    /// Empties the log and restarts it at `offset` (Kafka's `truncateFullyAndStartAt`): a follower
    /// whose log ends below its leader's log start (it was away while the leader's retention or
    /// DeleteRecords removed what it had not copied) cannot continue where it stopped. The epochs and
    /// the idempotent producers' state are forgotten, and the high watermark becomes `offset`.
    ///
    /// - Throws: the storage failure; NOT_LEADER_OR_FOLLOWER when this broker leads the partition.
    public func truncateFullyAndStartAt(_ offset: Int64) throws(KafkaApiError) {
        try state.withLock { state throws(KafkaApiError) in
            guard let log = state.log else { throw KafkaApiError(.kafkaStorageError, "The log of \(topicPartition) is closed") }
            guard state.leaderId != localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker leads \(topicPartition); it does not truncate")
            }
            let previousEnd = log.logEndOffset
            do throws(StorageError) {
                try log.truncateFullyAndStartAt(offset)
            } catch {
                throw KafkaApiError(error)
            }
            state.epochCache = LeaderEpochCache()
            state.producers = ProducerStateManager()
            state.highWatermark = offset
            highWatermarkValue.store(offset, ordering: .releasing)
            logger.info("emptied \(topicPartition) (log end was \(previousEnd)) and restarted it at the leader's log start \(offset)")
        }
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
    }

    /// Removes everything at and after `offset` (a follower whose log diverges from its leader's),
    /// forgets the epochs that start there, lowers the high watermark to the new end, and rebuilds the
    /// idempotent producers' state from the remaining batch headers. Returns the new log end offset.
    ///
    /// - Throws: the storage failure; NOT_LEADER_OR_FOLLOWER when this broker leads the partition.
    @discardableResult
    public func truncate(to offset: Int64, recoveryOffsetsMax: Int64) throws(KafkaApiError) -> Int64 {
        let end = try state.withLock { state throws(KafkaApiError) -> Int64 in
            guard let log = state.log else { throw KafkaApiError(.kafkaStorageError, "The log of \(topicPartition) is closed") }
            guard state.leaderId != localBrokerId else {
                throw KafkaApiError(.notLeaderOrFollower, "This broker leads \(topicPartition); it does not truncate")
            }
            guard offset < log.logEndOffset else { return log.logEndOffset }
            let end: Int64
            do throws(StorageError) {
                end = try log.truncate(to: offset)
                state.epochCache.truncateFromEnd(end)
                var producers = ProducerStateManager()
                let (from, overflow) = end.subtractingReportingOverflow(max(0, recoveryOffsetsMax))
                try Self.scanBatchHeaders(of: log, from: max(log.logStartOffset, overflow ? log.logStartOffset : from)) { header in
                    producers.record(header, firstOffset: header.baseOffset, lastOffset: header.lastOffset)
                }
                state.producers = producers
            } catch {
                throw KafkaApiError(error)
            }
            state.highWatermark = min(state.highWatermark, end)
            highWatermarkValue.store(state.highWatermark, ordering: .releasing)
            logger.info("truncated \(topicPartition) to offset \(end)")
            return end
        }
        stateVersionValue.add(1, ordering: .releasing)
        watchers.checkAll()
        return end
    }
}
