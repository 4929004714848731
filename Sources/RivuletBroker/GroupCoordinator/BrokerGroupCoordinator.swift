import Logging
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization

/// The group coordinator plugged into a `Broker` (its `GroupCoordinatorService`).
///
/// - `__consumer_offsets` is created on the first FindCoordinator for a group, as Kafka does
///   (`offsets.topic.num.partitions` partitions, `cleanup.policy=compact`,
///   `offsets.topic.segment.bytes`), and its partitions this broker leads are loaded then, or at
///   start when the topic exists (a restart reloads offsets and groups from it).
/// - FindCoordinator for a group answers the leader of its partition (`abs(hashCode) % partitions`);
///   for a transactional id COORDINATOR_NOT_AVAILABLE (no transactions yet).
/// - Compaction of `__consumer_offsets` (and of every topic with `cleanup.policy=compact`) runs in
///   the broker's maintenance pass (`Partition.runMaintenance`, with `LogCleaner`); `compactAll()`
///   runs one pass now.
///
/// Thread-safe. One instance per broker start (a restarted broker gets a new one).
public final class BrokerGroupCoordinator: GroupCoordinatorService {
    private struct State {
        weak var broker: Broker?
        var coordinator: GroupCoordinator?
        /// The `__consumer_offsets` partitions this broker led when the coordinator last caught up
        /// with the metadata (nil: not yet).
        var reconciledLeadership: Set<Int32>?
    }

    private let configOverride: GroupCoordinatorConfig?
    private let state = Mutex(State())
    /// Serializes the creation and loading of `__consumer_offsets`.
    private let topicGate = TopicGate()

    /// - Parameter config: the coordinator's settings; nil derives them from the broker's config
    ///   (`group.initial.rebalance.delay.ms`) and Kafka's defaults.
    public init(config: GroupCoordinatorConfig? = nil) {
        configOverride = config
    }

    /// The coordinator actor, once started (tools and tests).
    public var coordinator: GroupCoordinator? { state.withLock { $0.coordinator } }

    public var supportedApiVersions: [ApiKey: ClosedRange<Int16>] { GroupCoordinator.supportedApiVersions }

    public func start(broker: Broker) async throws {
        var config = configOverride ?? GroupCoordinatorConfig()
        if configOverride == nil {
            config.groupInitialRebalanceDelayMs = Int32(clamping: broker.config.groupInitialRebalanceDelayMs)
        }
        var logger = broker.config.logger
        logger[metadataKey: "component"] = "groups"
        let coordinator = GroupCoordinator(config: config, clock: broker.config.clock,
                                           backend: BrokerOffsetsBackend(broker: broker, logger: logger),
                                           randomSeed: broker.config.randomSeed &+ 0x6752_6F75_7073, logger: logger)
        state.withLock {
            $0.broker = broker
            $0.coordinator = coordinator
        }
        if broker.metadataCache.image.topic(named: GroupCoordinatorConfig.offsetsTopicName) != nil {
            try await loadLeadPartitions(broker: broker, coordinator: coordinator)
        }
    }

    public func shutdown() async {
        let coordinator = state.withLock { state in
            defer { state.broker = nil }
            return state.coordinator
        }
        await coordinator?.shutdown()
    }

    public func findCoordinator(key: String, keyType: Int8) async -> Result<BrokerEndpoint, KafkaApiError> {
        guard keyType == 0 else {
            return .failure(KafkaApiError(.coordinatorNotAvailable, "Transactions are not supported yet"))
        }
        guard let (broker, coordinator) = running() else {
            return .failure(KafkaApiError(.coordinatorNotAvailable, "The group coordinator is not running"))
        }
        do throws(KafkaApiError) {
            try await ensureOffsetsTopic(broker: broker, coordinator: coordinator)
        } catch {
            return .failure(KafkaApiError(.coordinatorNotAvailable, "\(GroupCoordinatorConfig.offsetsTopicName) is not available: \(error)"))
        }
        let image = broker.metadataCache.image
        let partition = coordinator.config.offsetsPartition(for: key)
        guard let metadata = image.topic(named: GroupCoordinatorConfig.offsetsTopicName)?.partition(partition),
              let leader = image.brokers[metadata.leader]
        else {
            return .failure(KafkaApiError(.coordinatorNotAvailable, "No leader for the group's offsets partition \(partition)"))
        }
        return .success(leader)
    }

    public func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        guard let coordinator = state.withLock({ $0.coordinator }) else {
            return KafkaResponseEncoder.errorBody(for: request.apiKey, errorCode: KafkaErrorCode.notCoordinator.rawValue)
        }
        await followLeadership(coordinator: coordinator)
        return await coordinator.handle(request, context: context)
    }

    /// Makes the coordinator own exactly the `__consumer_offsets` partitions this broker leads now.
    /// In a cluster, leadership of those partitions moves (the topic is created by whichever broker
    /// got the first FindCoordinator; failovers move leaders): a broker that becomes leader loads the
    /// partition's groups from its replica of the log, one that stops being leader drops them. Cheap
    /// when nothing changed (a set comparison).
    private func followLeadership(coordinator: GroupCoordinator) async {
        guard let broker = state.withLock({ $0.broker }),
              let topic = broker.metadataCache.image.topic(named: GroupCoordinatorConfig.offsetsTopicName)
        else { return }
        let led = Set(topic.partitions.lazy.filter { $0.leader == broker.nodeId }.map(\.partition))
        guard state.withLock({ $0.reconciledLeadership }) != led else { return }
        // A partition without a leader right now (-1, an election under way) is neither loaded nor
        // dropped: only another broker's leadership takes a partition away.
        let ledElsewhere = Set(topic.partitions.lazy.filter { $0.leader >= 0 && $0.leader != broker.nodeId }.map(\.partition))
        var complete = true
        for partition in await coordinator.reconcile(led: led, ledElsewhere: ledElsewhere) {
            do throws(GroupStoreError) {
                try await coordinator.loadPartition(partition)
            } catch {
                complete = false  // requests for its groups get NOT_COORDINATOR; the next request retries
            }
        }
        if complete { state.withLock { $0.reconciledLeadership = led } }
    }

    private func running() -> (Broker, GroupCoordinator)? {
        state.withLock { state in
            guard let broker = state.broker, let coordinator = state.coordinator else { return nil }
            return (broker, coordinator)
        }
    }

    // MARK: The offsets topic

    /// Creates `__consumer_offsets` when missing, then loads the partitions this broker leads.
    func ensureOffsetsTopic(broker: Broker, coordinator: GroupCoordinator) async throws(KafkaApiError) {
        try await topicGate.run { () async throws(KafkaApiError) in
            let name = GroupCoordinatorConfig.offsetsTopicName
            if broker.metadataCache.image.topic(named: name) == nil {
                let config = coordinator.config
                let brokers = Int16(clamping: broker.metadataCache.image.brokers.count)
                let topic = NewTopic(name: name, numPartitions: config.offsetsTopicNumPartitions,
                                     replicationFactor: max(1, min(config.offsetsTopicReplicationFactor, brokers)),
                                     configs: [ConfigOverride(name: "cleanup.policy", value: "compact"),
                                               ConfigOverride(name: "segment.bytes", value: String(config.offsetsTopicSegmentBytes)),
                                               ConfigOverride(name: "delete.retention.ms", value: String(config.deleteRetentionMs))])
                let result = await broker.clusterControl.createTopics([topic], validateOnly: false).first
                if case let .failure(error) = result, error.code != .topicAlreadyExists { throw error }
            }
            do throws(GroupStoreError) {
                try await loadLeadPartitions(broker: broker, coordinator: coordinator)
            } catch {
                throw KafkaApiError(.coordinatorNotAvailable, error.description)
            }
        }
    }

    /// Loads (replays) every `__consumer_offsets` partition this broker leads and is not loaded yet.
    private func loadLeadPartitions(broker: Broker, coordinator: GroupCoordinator) async throws(GroupStoreError) {
        guard let topic = broker.metadataCache.image.topic(named: GroupCoordinatorConfig.offsetsTopicName) else { return }
        let loaded = Set(await coordinator.loadedPartitions)
        for partition in topic.partitions where partition.leader == broker.nodeId && !loaded.contains(partition.partition) {
            try await coordinator.loadPartition(partition.partition)
        }
    }

    // MARK: Compaction

    /// Runs one compaction pass now over every compacted partition this broker holds
    /// (`__consumer_offsets` and any topic with `cleanup.policy=compact`); the broker's maintenance
    /// task does the same every `log.retention.check.interval.ms`. Returns the results by partition.
    @discardableResult
    public func compactAll() -> [TopicPartition: LogCleaningResult] {
        guard let broker = state.withLock({ $0.broker }) else { return [:] }
        let nowMs = broker.config.clock.wallMilliseconds()
        var results: [TopicPartition: LogCleaningResult] = [:]
        for partition in broker.replicaManager.allPartitions where partition.config.compacts {
            do throws(KafkaApiError) {
                if let result = try partition.compact(nowMs: nowMs) { results[partition.topicPartition] = result }
            } catch {
                broker.config.logger.warning("compaction failed", metadata: [
                    "partition": "\(partition.topicPartition)", "error": "\(error)",
                ])
            }
        }
        return results
    }
}

/// Runs one async operation at a time (creating and loading the offsets topic).
private actor TopicGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run(_ body: () async throws(KafkaApiError) -> Void) async throws(KafkaApiError) {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        try await body()
    }
}
