import Logging
import NIOCore
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization

/// One partition a follower copies from its leader.
public struct FollowTarget: Sendable, Hashable {
    /// The partition.
    public var topicPartition: TopicPartition
    /// Its topic's id (Fetch v13+ names topics by id).
    public var topicId: KafkaUUID
    /// The leader's node id.
    public var leaderId: Int32
    /// The leader's address.
    public var leaderAddress: BrokerAddress
    /// The leader epoch the follower fetches in (`currentLeaderEpoch`; the leader fences other epochs).
    public var leaderEpoch: Int32

    /// Follow `topicPartition` from `leaderId` at `leaderAddress` in `leaderEpoch`.
    public init(topicPartition: TopicPartition, topicId: KafkaUUID, leaderId: Int32, leaderAddress: BrokerAddress, leaderEpoch: Int32) {
        self.topicPartition = topicPartition
        self.topicId = topicId
        self.leaderId = leaderId
        self.leaderAddress = leaderAddress
        self.leaderEpoch = leaderEpoch
    }
}

/// Copies the partitions one leader leads to this broker (Kafka's `ReplicaFetcherThread`): replicas
/// are consumers. Over one `NegotiatedConnection` (any transport) it first finds where each newly
/// followed partition diverges from the leader with OffsetForLeaderEpoch (KIP-101, KIP-279) and
/// truncates there, then fetches with `ReplicaId` = this broker from the log end, appends what comes
/// back with the leader's offsets and epochs, and takes the leader's high watermark.
///
/// Errors back off by `replica.fetch.backoff.ms` per partition: NOT_LEADER_OR_FOLLOWER and
/// FENCED_LEADER_EPOCH wait for the metadata to move the partition elsewhere; UNKNOWN_LEADER_EPOCH
/// waits for the leader to learn the epoch; OFFSET_OUT_OF_RANGE asks the leader for its log start and
/// restarts the log there when it ends below it (else truncates again). A failed
/// connection is reopened after the backoff. Thread-safe; one task.
final class ReplicaFetcher: Sendable {
    private struct Fetching: Sendable {
        var target: FollowTarget
        var needsTruncation = true
        var delayedUntilNs: UInt64 = 0
    }

    private struct State: Sendable {
        var partitions: [TopicPartition: Fetching] = [:]
        var task: Task<Void, Never>?
        var stopped = false
    }

    let leaderId: Int32
    let leaderAddress: BrokerAddress
    private let config: BrokerConfig
    private let transport: any Transport
    private let replicaManager: ReplicaManager
    private let state = Mutex(State())
    private var logger: Logger { config.logger }
    private var clock: any EngineClock { config.clock }

    init(leaderId: Int32, leaderAddress: BrokerAddress, config: BrokerConfig, transport: any Transport, replicaManager: ReplicaManager) {
        self.leaderId = leaderId
        self.leaderAddress = leaderAddress
        self.config = config
        self.transport = transport
        self.replicaManager = replicaManager
    }

    /// The partitions fetched, with their targets.
    var targets: [FollowTarget] { state.withLock { $0.partitions.values.map(\.target) } }

    /// Starts following `target` (or moves it to a new epoch, which truncates again).
    func add(_ target: FollowTarget) {
        state.withLock { state in
            if let existing = state.partitions[target.topicPartition], existing.target == target { return }
            state.partitions[target.topicPartition] = Fetching(target: target)
        }
    }

    /// Stops following the partitions.
    func remove(_ topicPartitions: [TopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions { state.partitions.removeValue(forKey: topicPartition) }
        }
    }

    var isEmpty: Bool { state.withLock { $0.partitions.isEmpty } }

    func start() {
        state.withLock { state in
            guard state.task == nil, !state.stopped else { return }
            state.task = Task { await self.run() }
        }
    }

    /// Stops at once: no partition is fetched any more and a late answer is dropped; the task ends
    /// when its current request or connect attempt returns. Returns the task to await, if any.
    @discardableResult
    func cancel() -> Task<Void, Never>? {
        let task = state.withLock { state -> Task<Void, Never>? in
            state.stopped = true
            state.partitions.removeAll()
            defer { state.task = nil }
            return state.task
        }
        task?.cancel()
        return task
    }

    /// Stops and waits for the task to end.
    func stop() async {
        await cancel()?.value
    }

    private var backoffNs: UInt64 { UInt64(max(1, config.replicaFetchBackoffMs)) * 1_000_000 }

    private func run() async {
        var connection: NegotiatedConnection?
        defer {
            if let connection { Task { await connection.close() } }
        }
        while !Task.isCancelled {
            let now = clock.monotonicNanoseconds()
            let ready = state.withLock { state in state.partitions.values.filter { $0.delayedUntilNs <= now } }
            if ready.isEmpty {
                try? await clock.sleep(nanoseconds: min(backoffNs, 50_000_000))
                continue
            }
            if connection == nil {
                do {
                    connection = try await NegotiatedConnection.connect(using: transport, to: leaderAddress,
                                                                        clientId: "replica-fetcher-\(config.nodeId)-to-\(leaderId)")
                } catch {
                    logger.debug("replica fetcher cannot reach leader \(leaderId) at \(leaderAddress): \(error)")
                    try? await clock.sleep(nanoseconds: backoffNs)
                    continue
                }
            }
            guard let current = connection else { continue }
            do {
                let truncating = ready.filter(\.needsTruncation)
                if !truncating.isEmpty {
                    try await truncate(truncating.map(\.target), over: current)
                }
                let fetching = ready.filter { !$0.needsTruncation }
                if !fetching.isEmpty {
                    try await fetch(fetching.map(\.target), over: current)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.debug("replica fetcher to leader \(leaderId) failed: \(error); reconnecting")
                await current.close()
                connection = nil
                try? await clock.sleep(nanoseconds: backoffNs)
            }
        }
    }

    /// Marks `topicPartition` (still at `target`) to retry after the backoff (`short`: at most 100 ms,
    /// for the transient races of a leadership change), optionally truncating first.
    private func delay(_ target: FollowTarget, truncate: Bool = false, short: Bool = false) {
        let until = clock.monotonicNanoseconds() &+ (short ? min(backoffNs, 100_000_000) : backoffNs)
        state.withLock { state in
            guard var entry = state.partitions[target.topicPartition], entry.target == target else { return }
            entry.delayedUntilNs = until
            if truncate { entry.needsTruncation = true }
            state.partitions[target.topicPartition] = entry
        }
    }

    private func truncationDone(_ target: FollowTarget) {
        state.withLock { state in
            guard var entry = state.partitions[target.topicPartition], entry.target == target else { return }
            entry.needsTruncation = false
            entry.delayedUntilNs = 0
            state.partitions[target.topicPartition] = entry
        }
    }

    private func isCurrent(_ target: FollowTarget) -> Bool {
        state.withLock { $0.partitions[target.topicPartition]?.target == target }
    }

    /// Sends `request` and waits for its answer at most `replica.socket.timeout.ms`; cancelling the
    /// caller (a fetcher being stopped) ends the wait at once even while the leader holds the request.
    private func send<Request: KafkaRequest>(_ request: Request, over connection: NegotiatedConnection) async throws -> Request.Response {
        let future = ResponseFuture<Request.Response>()
        let sender = Task {
            do {
                future.succeed(try await connection.send(request))
            } catch {
                future.fail(error)
            }
        }
        let timeoutMs = config.replicaSocketTimeoutMs
        let timer = Task { [clock, leaderAddress] in
            try await clock.sleep(nanoseconds: UInt64(max(1, timeoutMs)) * 1_000_000)
            future.fail(TransportError.timedOut(leaderAddress, afterMs: timeoutMs))
        }
        defer {
            timer.cancel()
            _ = sender
        }
        return try await withTaskCancellationHandler {
            try await future.value
        } onCancel: {
            future.fail(CancellationError())
        }
    }

    // MARK: Truncation (KIP-101, KIP-279)

    private func truncate(_ targets: [FollowTarget], over connection: NegotiatedConnection) async throws {
        var asked: [(FollowTarget, Partition, Int32)] = []
        for target in targets {
            guard let partition = replicaManager.partition(target.topicPartition) else {
                delay(target)
                continue
            }
            let log: FollowerLogState
            do throws(KafkaApiError) {
                log = try partition.followerLogState()
            } catch {
                delay(target, truncate: true)
                continue
            }
            guard let epoch = log.latestEpoch else {
                // A log without epochs: Kafka's fallback is the high watermark.
                do throws(KafkaApiError) {
                    try partition.truncate(to: log.highWatermark, recoveryOffsetsMax: config.producerStateRecoveryOffsetsMax)
                    truncationDone(target)
                } catch {
                    delay(target, truncate: true)
                }
                continue
            }
            asked.append((target, partition, epoch))
        }
        guard !asked.isEmpty else { return }
        var byTopic: [String: [OffsetForLeaderEpochRequest.OffsetForLeaderPartition]] = [:]
        for (target, _, epoch) in asked {
            byTopic[target.topicPartition.topic, default: []].append(OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition: target.topicPartition.partition, currentLeaderEpoch: target.leaderEpoch, leaderEpoch: epoch))
        }
        let request = OffsetForLeaderEpochRequest(replicaId: config.nodeId, topics: byTopic.map {
            OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic: $0.key, partitions: $0.value)
        })
        let response = try await send(request, over: connection)
        var answers: [TopicPartition: OffsetForLeaderEpochResponse.EpochEndOffset] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                answers[TopicPartition(topic: topic.topic, partition: partition.partition)] = partition
            }
        }
        for (target, partition, epoch) in asked {
            guard isCurrent(target) else { continue }
            guard let answer = answers[target.topicPartition] else {
                delay(target, truncate: true)
                continue
            }
            guard answer.errorCode == 0 else {
                logger.debug("OffsetForLeaderEpoch of \(target.topicPartition) from leader \(leaderId): error \(answer.errorCode)")
                let transient: Set<Int16> = [KafkaErrorCode.unknownLeaderEpoch.rawValue, KafkaErrorCode.notLeaderOrFollower.rawValue,
                                             KafkaErrorCode.fencedLeaderEpoch.rawValue]
                delay(target, truncate: true, short: transient.contains(answer.errorCode))
                continue
            }
            do throws(KafkaApiError) {
                let log = try partition.followerLogState()
                var truncateTo: Int64
                if answer.endOffset < 0 {
                    truncateTo = log.highWatermark
                } else if answer.leaderEpoch == epoch {
                    truncateTo = min(answer.endOffset, log.logEndOffset)
                } else {
                    let local = partition.localEndOffset(forEpoch: answer.leaderEpoch)
                    truncateTo = min(answer.endOffset, local.endOffset >= 0 ? local.endOffset : log.highWatermark, log.logEndOffset)
                }
                truncateTo = max(truncateTo, log.logStartOffset)
                if truncateTo < log.logEndOffset {
                    logger.info("follower \(config.nodeId) truncates \(target.topicPartition) from \(log.logEndOffset) to \(truncateTo) (leader \(leaderId) epoch \(answer.leaderEpoch) ends at \(answer.endOffset))")
                    try partition.truncate(to: truncateTo, recoveryOffsetsMax: config.producerStateRecoveryOffsetsMax)
                }
                truncationDone(target)
            } catch {
                delay(target, truncate: true)
            }
        }
    }

    // MARK: Fetch

    private func fetch(_ targets: [FollowTarget], over connection: NegotiatedConnection) async throws {
        var positions: [TopicPartition: (target: FollowTarget, partition: Partition, fetchOffset: Int64)] = [:]
        var byTopic: [String: (KafkaUUID, [FetchRequest.FetchPartition])] = [:]
        for target in targets {
            guard let partition = replicaManager.partition(target.topicPartition) else {
                delay(target)
                continue
            }
            let log: FollowerLogState
            do throws(KafkaApiError) {
                log = try partition.followerLogState()
            } catch {
                delay(target)
                continue
            }
            positions[target.topicPartition] = (target, partition, log.logEndOffset)
            var entry = byTopic[target.topicPartition.topic] ?? (target.topicId, [])
            entry.1.append(FetchRequest.FetchPartition(
                partition: target.topicPartition.partition, currentLeaderEpoch: target.leaderEpoch, fetchOffset: log.logEndOffset,
                lastFetchedEpoch: log.latestEpoch ?? -1, logStartOffset: log.logStartOffset,
                partitionMaxBytes: config.replicaFetchMaxBytes))
            byTopic[target.topicPartition.topic] = entry
        }
        guard !positions.isEmpty else { return }
        let request = FetchRequest(
            replicaId: config.nodeId, replicaState: FetchRequest.ReplicaState(replicaId: config.nodeId, replicaEpoch: -1),
            maxWaitMs: Int32(clamping: config.replicaFetchWaitMaxMs), minBytes: 1, maxBytes: config.replicaFetchResponseMaxBytes,
            isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
            topics: byTopic.map { name, entry in FetchRequest.FetchTopic(topic: name, topicId: entry.0, partitions: entry.1) })
        let response = try await send(request, over: connection)
        if response.errorCode != 0 {
            logger.debug("fetch from leader \(leaderId) failed with error \(response.errorCode)")
            for position in positions.values { delay(position.target) }
            return
        }
        let namesById = Dictionary(byTopic.map { ($0.value.0, $0.key) }, uniquingKeysWith: { first, _ in first })
        var outOfRange: [(target: FollowTarget, partition: Partition, fetchOffset: Int64)] = []
        for topic in response.responses {
            let name = topic.topicId != .zero ? (namesById[topic.topicId] ?? topic.topic) : topic.topic
            for data in topic.partitions {
                let topicPartition = TopicPartition(topic: name, partition: data.partitionIndex)
                guard let position = positions[topicPartition], isCurrent(position.target) else { continue }
                if !handle(data, position.target, position.partition, fetchOffset: position.fetchOffset) { outOfRange.append(position) }
            }
        }
        if !outOfRange.isEmpty { try await handleOutOfRange(outOfRange, over: connection) }
    }

    /// Kafka's `handleOutOfRangeError` for partitions the leader answered OFFSET_OUT_OF_RANGE: asks
    /// the leader for its log start offset (ListOffsets, earliest, as a replica); a follower whose log
    /// ends below it empties its log and restarts there (`truncateFullyAndStartAt`), otherwise it
    /// truncates again with OffsetForLeaderEpoch (its log ran past the leader's end).
    private func handleOutOfRange(_ positions: [(target: FollowTarget, partition: Partition, fetchOffset: Int64)],
                                  over connection: NegotiatedConnection) async throws {
        var byTopic: [String: [ListOffsetsRequest.ListOffsetsPartition]] = [:]
        for position in positions {
            byTopic[position.target.topicPartition.topic, default: []].append(ListOffsetsRequest.ListOffsetsPartition(
                partitionIndex: position.target.topicPartition.partition, currentLeaderEpoch: position.target.leaderEpoch,
                timestamp: -2))
        }
        let request = ListOffsetsRequest(replicaId: config.nodeId, topics: byTopic.map {
            ListOffsetsRequest.ListOffsetsTopic(name: $0.key, partitions: $0.value)
        })
        let response = try await send(request, over: connection)
        var starts: [TopicPartition: ListOffsetsResponse.ListOffsetsPartitionResponse] = [:]
        for topic in response.topics {
            for partition in topic.partitions { starts[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] = partition }
        }
        for position in positions {
            let target = position.target
            guard isCurrent(target) else { continue }
            guard let answer = starts[target.topicPartition], answer.errorCode == 0, answer.offset >= 0 else {
                delay(target, truncate: true, short: true)
                continue
            }
            guard position.fetchOffset < answer.offset else {
                logger.info("fetch offset \(position.fetchOffset) of \(target.topicPartition) is out of range on leader \(leaderId) (log start \(answer.offset)); truncating again")
                delay(target, truncate: true)
                continue
            }
            do throws(KafkaApiError) {
                logger.info("follower \(config.nodeId) is behind the log start \(answer.offset) of \(target.topicPartition) on leader \(leaderId) (its log ends at \(position.fetchOffset)); restarting its log there")
                try position.partition.truncateFullyAndStartAt(answer.offset)
                truncationDone(target)
            } catch {
                logger.warning("follower \(config.nodeId) could not restart \(target.topicPartition) at \(answer.offset): \(error)")
                delay(target, truncate: true)
            }
        }
    }

    /// Applies one partition's fetch answer; returns false for OFFSET_OUT_OF_RANGE, which the caller
    /// resolves with the leader (`handleOutOfRange`).
    private func handle(_ data: FetchResponse.PartitionData, _ target: FollowTarget, _ partition: Partition, fetchOffset: Int64) -> Bool {
        switch KafkaErrorCode(rawValue: data.errorCode) ?? .unknownServerError {
        case .noError:
            do throws(KafkaApiError) {
                try partition.appendAsFollower(data.records ?? ByteBuffer(), leaderHighWatermark: data.highWatermark,
                                               leaderLogStartOffset: data.logStartOffset)
            } catch {
                logger.warning("follower \(config.nodeId) could not append \(target.topicPartition) at \(fetchOffset): \(error)")
                delay(target, truncate: true)
            }
        case .offsetOutOfRange:
            return false
        case .unknownLeaderEpoch, .notLeaderOrFollower, .fencedLeaderEpoch, .unknownTopicOrPartition, .unknownTopicId:
            // The leader and this follower apply a leadership change at slightly different times.
            delay(target, short: true)
        default:
            logger.debug("fetch of \(target.topicPartition) from leader \(leaderId): error \(data.errorCode)")
            delay(target)
        }
        return true
    }
}

/// The fetchers of one broker, one per leader (Kafka's `ReplicaFetcherManager`). `update` is given the
/// complete set of partitions to follow after each metadata change. Thread-safe.
public final class ReplicaFetcherManager: Sendable {
    private struct Key: Hashable {
        var leaderId: Int32
        var address: BrokerAddress
    }

    private let config: BrokerConfig
    private let transport: any Transport
    private let replicaManager: ReplicaManager
    private let fetchers = Mutex<[Key: ReplicaFetcher]>([:])
    private let stopped = Mutex(false)

    /// Fetchers for the broker configured by `config`, dialing leaders through `transport`.
    public init(config: BrokerConfig, transport: any Transport, replicaManager: ReplicaManager) {
        self.config = config
        self.transport = transport
        self.replicaManager = replicaManager
    }

    /// The partitions being followed, with their leaders and epochs.
    public var targets: [FollowTarget] {
        fetchers.withLock { Array($0.values) }.flatMap(\.targets).sorted { "\($0.topicPartition)" < "\($1.topicPartition)" }
    }

    /// Makes the fetchers follow exactly `targets`: partitions no longer listed stop, new ones (or ones
    /// with a new leader epoch) truncate first, fetchers left with nothing stop.
    public func update(_ targets: [FollowTarget]) async {
        guard !stopped.withLock({ $0 }) else { return }
        var wanted: [Key: [FollowTarget]] = [:]
        for target in targets { wanted[Key(leaderId: target.leaderId, address: target.leaderAddress), default: []].append(target) }
        let (toStart, toStop) = fetchers.withLock { fetchers -> ([ReplicaFetcher], [ReplicaFetcher]) in
            var toStart: [ReplicaFetcher] = []
            var toStop: [ReplicaFetcher] = []
            for (key, fetcher) in fetchers where wanted[key] == nil {
                toStop.append(fetcher)
                fetchers.removeValue(forKey: key)
            }
            for (key, list) in wanted {
                let fetcher: ReplicaFetcher
                if let existing = fetchers[key] {
                    fetcher = existing
                } else {
                    fetcher = ReplicaFetcher(leaderId: key.leaderId, leaderAddress: key.address, config: config,
                                             transport: transport, replicaManager: replicaManager)
                    fetchers[key] = fetcher
                    toStart.append(fetcher)
                }
                let keep = Set(list.map(\.topicPartition))
                fetcher.remove(fetcher.targets.map(\.topicPartition).filter { !keep.contains($0) })
                for target in list { fetcher.add(target) }
            }
            return (toStart, toStop)
        }
        for fetcher in toStart { fetcher.start() }
        // Not awaited: a fetcher stuck connecting to a dead leader must not hold up a leadership change.
        for fetcher in toStop { fetcher.cancel() }
    }

    /// Stops every fetcher and waits for them.
    public func shutdown() async {
        stopped.withLock { $0 = true }
        let all = fetchers.withLock { fetchers in
            defer { fetchers.removeAll() }
            return Array(fetchers.values)
        }
        for fetcher in all { await fetcher.stop() }
    }
}
