import Logging
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization

/// How a broker joins a coordinated cluster: how to open a coordination session (again after one
/// expires) and how its followers reach leaders.
public struct ClusterCoordinationOptions: Sendable {
    /// Opens a new coordination session (`Coordinators.connect(url:configuration:)`, or a session on
    /// an `InMemoryEnsemble`). Called at start and after every session expiry.
    public var connect: @Sendable () async throws -> any Coordinator
    /// The transport replica fetchers dial leaders with.
    public var transport: any Transport

    public init(connect: @escaping @Sendable () async throws -> any Coordinator, transport: any Transport) {
        self.connect = connect
        self.transport = transport
    }
}

/// A broker's membership in a coordinated cluster: its session, its registration
/// (`/brokers/ids/N`), its controller candidacy (`KafkaController`), the metadata it reads from the
/// coordination service and applies to its replicas (leader or follower, fetchers), and the ISR
/// changes it writes as a leader.
///
/// **Session loop.** Connect, create the base nodes and the cluster id, register (waiting for a
/// previous incarnation's ephemeral node to expire), then run the metadata listener and the
/// controller election side by side until the session ends; then connect again. The listener
/// watches `/brokers/ids` (children), `/controller` and `/rivulet/metadata_change`, re-reads the whole
/// cluster state after any of them fires (or every `metadataRefreshIntervalMs`), publishes it to the
/// `MetadataCache` and applies it: opens the partitions assigned here, applies leadership (newer
/// partition epochs only), stops and deletes the partitions no longer assigned here, and gives the
/// fetchers the partitions this broker follows.
///
/// **ISR changes.** As `IsrChangeHandler`, a leader's proposal is written to the partition's state
/// node conditionally on its version (the partition epoch), after checking the node still names this
/// broker leader in the proposal's epoch; then `/rivulet/metadata_change` is bumped.
///
/// Thread-safe. `start()` returns once the first metadata has been applied.
public final class ClusterMembership: IsrChangeHandler, Sendable {
    private struct State {
        var session: (any Coordinator)?
        var loop: Task<Void, Never>?
        var shrinkTask: Task<Void, Never>?
        var stopping = false
        var appliedConfigs: [String: TopicConfig] = [:]
        var appliedTopicIds: [String: KafkaUUID] = [:]
        var loads = 0
        var sessions = 0
    }

    private let config: BrokerConfig
    private let options: ClusterCoordinationOptions
    private let metadataCache: MetadataCache
    private let replicaManager: ReplicaManager
    private let storage: any StorageEngine
    /// The broker's follower fetchers.
    public let fetcherManager: ReplicaFetcherManager
    let controller: KafkaController
    private let state = Mutex(State())
    private let firstLoad = ResponseFuture<Void>()
    private var logger: Logger { config.logger }

    init(config: BrokerConfig, options: ClusterCoordinationOptions, metadataCache: MetadataCache, replicaManager: ReplicaManager,
         storage: any StorageEngine) {
        self.config = config
        self.options = options
        self.metadataCache = metadataCache
        self.replicaManager = replicaManager
        self.storage = storage
        fetcherManager = ReplicaFetcherManager(config: config, transport: options.transport, replicaManager: replicaManager)
        controller = KafkaController(config: config)
    }

    /// The current coordination session, nil between sessions.
    public var session: (any Coordinator)? { state.withLock { $0.session } }

    /// Whether this broker is the active controller.
    public var isController: Bool { controller.activeEpoch != nil }

    /// The controller epoch while this broker is the controller.
    public var controllerEpoch: Int32? { controller.activeEpoch }

    /// How many sessions this broker has opened (more than one after an expiry).
    public var sessionCount: Int { state.withLock { $0.sessions } }

    private var localEndpoint: BrokerEndpoint {
        BrokerEndpoint(nodeId: config.nodeId, host: config.advertisedAddress.host,
                       port: Int32(clamping: config.advertisedAddress.port), rack: config.rack)
    }

    /// Starts the session loop and waits until the first cluster state is applied.
    ///
    /// - Throws: `BrokerError.invalidState` when the coordination service cannot be reached or this
    ///   broker cannot register (another live broker has the same id) within the start timeout.
    func start() async throws(BrokerError) {
        replicaManager.isrChangeHandler = self
        let loop = Task { await self.sessionLoop() }
        let lagCheckMs = max(10, config.replicaLagTimeMaxMs / 2)
        let shrink = Task { [replicaManager, clock = config.clock] in
            while !Task.isCancelled {
                do {
                    try await clock.sleep(nanoseconds: UInt64(lagCheckMs) * 1_000_000)
                } catch {
                    return
                }
                replicaManager.shrinkLaggingIsrs()
            }
        }
        state.withLock {
            $0.loop = loop
            $0.shrinkTask = shrink
        }
        let timeoutMs = Int64(config.zookeeperSessionTimeoutMs) * 3 + 10_000
        let timer = Task { [firstLoad, clock = config.clock] in
            try? await clock.sleep(nanoseconds: UInt64(timeoutMs) * 1_000_000)
            firstLoad.fail(BrokerError.invalidState("no cluster metadata within \(timeoutMs) ms: the coordination service is unreachable or node id \(config.nodeId) is registered by a live broker"))
        }
        defer { timer.cancel() }
        do {
            try await firstLoad.value
        } catch let error as BrokerError {
            await shutdown(closeSession: true)
            throw error
        } catch {
            await shutdown(closeSession: true)
            throw .invalidState("\(error)")
        }
    }

    /// Stops the loops and the fetchers. With `closeSession` the session is closed (its ephemeral
    /// nodes go at once, a clean shutdown); without, it is abandoned and expires after its timeout (a
    /// process death).
    func shutdown(closeSession: Bool) async {
        let (loop, shrink, session) = state.withLock { state -> (Task<Void, Never>?, Task<Void, Never>?, (any Coordinator)?) in
            state.stopping = true
            defer {
                state.loop = nil
                state.shrinkTask = nil
            }
            return (state.loop, state.shrinkTask, state.session)
        }
        replicaManager.isrChangeHandler = nil
        loop?.cancel()
        shrink?.cancel()
        firstLoad.fail(BrokerError.invalidState("the broker stopped"))
        if closeSession, let session { await session.close() }
        await loop?.value
        await shrink?.value
        await fetcherManager.shutdown()
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    // MARK: Session loop

    private func sessionLoop() async {
        let backoffNs = UInt64(min(1000, max(10, config.replicaFetchBackoffMs))) * 1_000_000
        while !Task.isCancelled, !isStopping {
            // A live session is kept across failed rounds (its ephemeral nodes are this broker's);
            // only an expired or closed one is replaced.
            let session: any Coordinator
            if let current = self.session, !current.state.isTerminal {
                session = current
            } else {
                do {
                    session = try await options.connect()
                } catch {
                    logger.warning("broker \(config.nodeId) cannot open a coordination session: \(error)")
                    try? await config.clock.sleep(nanoseconds: backoffNs)
                    continue
                }
                let keep = state.withLock { state -> Bool in
                    guard !state.stopping else { return false }
                    state.session = session
                    state.sessions += 1
                    return true
                }
                guard keep else {
                    await session.close()
                    return
                }
            }
            do {
                try await prepareTree(session)
                try await register(session)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.metadataLoop(session) }
                    group.addTask { try await self.controller.run(session: session) }
                    defer { group.cancelAll() }
                    _ = try await group.next()
                }
            } catch is CancellationError {
                return
            } catch {
                if isStopping { return }
                logger.warning("broker \(config.nodeId): coordination session \(session.sessionID) ended: \(error)")
            }
            if isStopping { return }
            if session.state.isTerminal {
                state.withLock { $0.session = nil }
            } else {
                try? await config.clock.sleep(nanoseconds: backoffNs)
            }
        }
    }

    /// Creates the persistent base nodes and the cluster id (the first broker's wins).
    private func prepareTree(_ session: any Coordinator) async throws {
        for path in [ClusterZNodes.brokerIds, ClusterZNodes.topics, ClusterZNodes.metadataChange] {
            do {
                try await session.createRecursively(path)
            } catch CoordinatorError.nodeExists {}
        }
        var fields = ZNodeFields()
        var generator = SeededGenerator(seed: config.randomSeed)
        fields["id"] = config.clusterId ?? KafkaUUID.random(using: &generator).description
        do {
            try await session.createRecursively(ClusterZNodes.clusterId, data: fields.bytes)
        } catch CoordinatorError.nodeExists {}
    }

    /// Creates `/brokers/ids/N`; a node left by this broker's previous session is waited out.
    private func register(_ session: any Coordinator) async throws {
        let path = ClusterZNodes.broker(config.nodeId)
        let data = BrokerRegistration(endpoint: localEndpoint).data
        let waitMs = Int64(config.zookeeperSessionTimeoutMs) * 2 + 2000
        let deadline = config.clock.monotonicMilliseconds() + waitMs
        while true {
            do {
                try await session.create(path, data: data, mode: .ephemeral)
                logger.info("broker \(config.nodeId) registered at \(path) (session \(session.sessionID))")
                return
            } catch CoordinatorError.nodeExists {
                let existing = try await session.exists(path, watch: true)
                guard let stat = existing.stat else { continue }
                if stat.ephemeralOwner == session.sessionID { return }
                let remaining = deadline - config.clock.monotonicMilliseconds()
                guard remaining > 0 else {
                    throw BrokerError.invalidState("\(path) is held by another session \(stat.ephemeralOwner): is node id \(config.nodeId) running elsewhere?")
                }
                logger.info("broker \(config.nodeId) waits for its previous registration to expire")
                try await WatchWaiting.waitForAny([existing.watch].compactMap { $0 }, timeoutMs: remaining, clock: config.clock)
            }
        }
    }

    // MARK: Metadata

    private func metadataLoop(_ session: any Coordinator) async throws {
        var brokersWatch = ArmedWatch()
        var controllerWatch = ArmedWatch()
        var changeWatch = ArmedWatch()
        while true {
            try Task.checkCancellation()
            if brokersWatch.needsArming { brokersWatch.arm(try await session.getChildren(ClusterZNodes.brokerIds, watch: true).watch) }
            if controllerWatch.needsArming { controllerWatch.arm(try await session.exists(ClusterZNodes.controller, watch: true).watch) }
            if changeWatch.needsArming { changeWatch.arm(try await session.getData(ClusterZNodes.metadataChange, watch: true).watch) }
            let image = try await Self.readImage(session, logger: logger)
            await apply(image)
            firstLoad.succeed(())
            try await WatchWaiting.waitForAny([brokersWatch.watch, controllerWatch.watch, changeWatch.watch].compactMap { $0 },
                                              timeoutMs: config.metadataRefreshIntervalMs, clock: config.clock)
        }
    }

    /// Reads the whole cluster state from the coordination service.
    static func readImage(_ session: any Coordinator, logger: Logger) async throws -> ClusterImage {
        var clusterId = ""
        do {
            let fields = try ZNodeFields(decoding: try await session.getData(ClusterZNodes.clusterId).data, path: ClusterZNodes.clusterId)
            clusterId = fields["id"] ?? ""
        } catch CoordinatorError.noNode {}
        var controllerId: Int32 = -1
        do {
            let data = try await session.getData(ClusterZNodes.controller).data
            controllerId = (try? ControllerRegistration(data: data))?.brokerId ?? -1
        } catch CoordinatorError.noNode {}
        var brokers: [Int32: BrokerEndpoint] = [:]
        for child in try await session.getChildren(ClusterZNodes.brokerIds) {
            guard let id = Int32(child) else { continue }
            do {
                brokers[id] = try BrokerRegistration(nodeId: id, data: try await session.getData(ClusterZNodes.broker(id)).data).endpoint
            } catch CoordinatorError.noNode {
                continue
            } catch let error as ZNodeDataError {
                logger.warning("\(error)")
            }
        }
        var topics: [TopicMetadata] = []
        for name in try await session.getChildren(ClusterZNodes.topics) {
            do {
                let assignment = try TopicAssignment(name: name, data: try await session.getData(ClusterZNodes.topic(name)).data)
                var partitions: [PartitionMetadata] = []
                for (index, replicas) in assignment.replicas.enumerated() {
                    let number = Int32(index)
                    let path = ClusterZNodes.partitionState(name, number)
                    do {
                        let node = try await session.getData(path)
                        let partitionState = try PartitionStateZNode(data: node.data, path: path)
                        partitions.append(PartitionMetadata(partition: number, leader: partitionState.leader,
                                                            leaderEpoch: partitionState.leaderEpoch, replicas: replicas,
                                                            isr: partitionState.isr, offlineReplicas: [],
                                                            partitionEpoch: node.stat.version))
                    } catch CoordinatorError.noNode {
                        partitions.append(PartitionMetadata(partition: number, leader: -1, leaderEpoch: -1, replicas: replicas,
                                                            isr: [], partitionEpoch: -1))
                    }
                }
                let topicConfig: TopicConfig
                do {
                    topicConfig = try TopicConfig(validating: assignment.configs.map { ($0.key, Optional($0.value)) })
                } catch {
                    logger.warning("topic \(name) has invalid configs in the coordination service: \(error)")
                    topicConfig = TopicConfig()
                }
                topics.append(TopicMetadata(name: name, topicId: assignment.topicId, isInternal: assignment.isInternal,
                                            partitions: partitions, config: topicConfig))
            } catch CoordinatorError.noNode {
                continue
            } catch let error as ZNodeDataError {
                logger.warning("\(error)")
            }
        }
        return ClusterImage(clusterId: clusterId, controllerId: controllerId, brokers: brokers, topics: topics)
    }

    /// Publishes `image` and makes the local replicas match it.
    private func apply(_ image: ClusterImage) async {
        metadataCache.publish(image)
        let me = config.nodeId
        var assigned = Set<TopicPartition>()
        var targets: [FollowTarget] = []
        let (previousConfigs, previousIds, isFirst) = state.withLock { ($0.appliedConfigs, $0.appliedTopicIds, $0.loads == 0) }
        // Partitions no longer here (topic deleted, recreated with a new id, or reassigned) go first.
        for topic in image.topics {
            for partition in topic.partitions where partition.replicas.contains(me) && partition.leaderEpoch >= 0 {
                assigned.insert(TopicPartition(topic: topic.name, partition: partition.partition))
            }
        }
        let stale = replicaManager.allPartitions.filter { partition in
            guard assigned.contains(partition.topicPartition),
                  let topic = image.topic(named: partition.topicPartition.topic) else { return true }
            return topic.topicId != partition.topicId
        }
        if !stale.isEmpty {
            await fetcherManager.update(fetcherManager.targets.filter { target in !stale.contains { $0.topicPartition == target.topicPartition } })
            replicaManager.stopPartitions(stale.map(\.topicPartition), deleteLogs: true)
            for partition in stale { logger.info("broker \(me) no longer holds \(partition.topicPartition)") }
        }
        var configs: [String: TopicConfig] = [:]
        var ids: [String: KafkaUUID] = [:]
        for topic in image.topics {
            let numbers = Set(topic.partitions.filter { $0.replicas.contains(me) && $0.leaderEpoch >= 0 }.map(\.partition))
            guard !numbers.isEmpty else { continue }
            configs[topic.name] = topic.config
            ids[topic.name] = topic.topicId
            do throws(KafkaApiError) {
                try replicaManager.openPartitions(of: topic, only: numbers)
                if let previous = previousConfigs[topic.name], previous != topic.config, previousIds[topic.name] == topic.topicId {
                    try replicaManager.reconfigure(topic: topic)
                }
            } catch {
                logger.error("broker \(me) cannot open the partitions of \(topic.name): \(error)")
            }
            for partition in topic.partitions where numbers.contains(partition.partition) {
                guard partition.leader != me, partition.leader >= 0, let leader = image.brokers[partition.leader] else { continue }
                targets.append(FollowTarget(topicPartition: TopicPartition(topic: topic.name, partition: partition.partition),
                                            topicId: topic.topicId, leaderId: leader.nodeId,
                                            leaderAddress: BrokerAddress(host: leader.host, port: Int(leader.port)),
                                            leaderEpoch: partition.leaderEpoch))
            }
        }
        await fetcherManager.update(targets)
        state.withLock { state in
            state.appliedConfigs = configs
            state.appliedTopicIds = ids
            state.loads += 1
        }
        if isFirst {
            do {
                for orphan in try storage.partitions() where !assigned.contains(orphan) {
                    logger.info("deleting the log of \(orphan), which is not assigned to broker \(me)")
                    try storage.deleteLog(orphan)
                }
            } catch {
                logger.warning("could not delete logs not assigned to this broker: \(error)")
            }
        }
    }

    // MARK: ISR changes

    public func propose(_ change: IsrChange, partition: Partition) {
        Task { await self.write(change, partition: partition) }
    }

    private func write(_ change: IsrChange, partition: Partition) async {
        guard let session else {
            partition.abortIsrChange(change)
            return
        }
        let path = ClusterZNodes.partitionState(change.topicPartition.topic, change.topicPartition.partition)
        do {
            let current = try await session.getData(path)
            let stored = try PartitionStateZNode(data: current.data, path: path)
            guard stored.leader == config.nodeId, stored.leaderEpoch == change.leaderEpoch,
                  current.stat.version == change.partitionEpoch else {
                partition.abortIsrChange(change)
                return
            }
            let next = PartitionStateZNode(leader: config.nodeId, leaderEpoch: change.leaderEpoch, isr: change.isr,
                                           controllerEpoch: stored.controllerEpoch)
            let stat = try await session.setData(path, data: next.data, version: current.stat.version)
            partition.completeIsrChange(change, newPartitionEpoch: stat.version)
            try await KafkaController.bumpMetadataChange(session)
        } catch {
            logger.info("ISR change of \(change.topicPartition) to \(change.isr) not made: \(error)")
            partition.abortIsrChange(change)
        }
    }
}
