import Logging
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization

/// One Kafka-compatible broker: the `KafkaRequestHandler` every transport calls.
///
/// It owns the metadata cache, the replica manager (partitions and their logs), topic control
/// (`LocalClusterControl` on a single node) and producer ids, and runs the retention task. Handlers
/// live in one file per API (`Broker+Produce.swift`, ...). Requests for versions outside
/// `SupportedApiVersions` get UNSUPPORTED_VERSION; requests before `start()` or after `shutdown()`
/// get NOT_LEADER_OR_FOLLOWER (or the API's equivalent), so clients retry elsewhere.
///
/// **Isolation.** No global actor on the data path: shared state is in `Mutex`es, each partition has
/// its own lock, and a request awaits at most once per batch (for acks=all or a long poll).
///
/// Lifecycle: `init` (nothing opened but the storage), `start()` (load metadata, open logs, start
/// retention), `shutdown()` (wake waiters, stop tasks, close logs and the storage it owns). A broker
/// runs once; restart by creating a new `Broker` on the same storage.
public final class Broker: KafkaRequestHandler, Sendable {
    /// The settings.
    public let config: BrokerConfig
    /// The storage engine holding this broker's logs and metadata documents.
    public let storage: any StorageEngine
    /// What the broker knows about the cluster.
    public let metadataCache: MetadataCache
    /// The partitions this broker holds.
    public let replicaManager: ReplicaManager
    /// Topic lifecycle and producer-id blocks.
    public let clusterControl: any ClusterControl
    /// Producer ids for InitProducerId.
    public let producerIdManager: ProducerIdManager
    /// Consumer groups, when plugged in.
    public let groupCoordinator: (any GroupCoordinatorService)?
    /// The broker's membership in a coordinated cluster (registration, controller, replication);
    /// nil for a single node.
    public let membership: ClusterMembership?

    let localClusterControl: LocalClusterControl
    let supportedVersions: [ApiKey: ClosedRange<Int16>]
    private let ownsStorage: Bool
    private let lifecycle = Mutex<Lifecycle>(.created)
    private let maintenanceTask = Mutex<Task<Void, Never>?>(nil)
    var logger: Logger { config.logger }

    private enum Lifecycle: Equatable {
        case created, starting, running, stopping, stopped
    }

    /// A broker that opens its storage from `config.storageURL` and closes it at shutdown.
    ///
    /// - Throws: `BrokerError.invalidConfig` for a bad setting, `.storage` when the storage cannot be opened.
    public convenience init(config: BrokerConfig, groupCoordinator: (any GroupCoordinatorService)? = nil,
                            coordination: ClusterCoordinationOptions? = nil) throws(BrokerError) {
        try config.validate()
        let storage: any StorageEngine
        do throws(StorageError) {
            storage = try StorageEngines.open(url: config.storageURL, clock: config.clock,
                                              logger: Logger(label: "\(config.logger.label).storage"))
        } catch {
            throw .storage(error)
        }
        try self.init(config: config, storage: storage, ownsStorage: true, groupCoordinator: groupCoordinator,
                      coordination: coordination)
    }

    /// A broker on an open storage engine. With `ownsStorage` the broker closes the engine at
    /// shutdown; without it the caller keeps it (a `memory://` engine survives a broker restart only so).
    ///
    /// With `coordination` the broker joins a coordinated cluster (`ClusterMembership`): topics live in
    /// the coordination service (`CoordinatedClusterControl`), leaders and ISRs come from the controller,
    /// and followers replicate by fetching. Without it the broker is a single node (`LocalClusterControl`).
    ///
    /// - Throws: `BrokerError.invalidConfig` for a bad setting.
    public init(config: BrokerConfig, storage: any StorageEngine, ownsStorage: Bool,
                groupCoordinator: (any GroupCoordinatorService)? = nil,
                coordination: ClusterCoordinationOptions? = nil) throws(BrokerError) {
        try config.validate()
        self.config = config
        self.storage = storage
        self.ownsStorage = ownsStorage
        self.groupCoordinator = groupCoordinator
        let endpoint = BrokerEndpoint(nodeId: config.nodeId, host: config.advertisedAddress.host,
                                      port: Int32(clamping: config.advertisedAddress.port), rack: config.rack)
        metadataCache = MetadataCache(ClusterImage(clusterId: config.clusterId ?? "", controllerId: config.nodeId,
                                                   brokers: [config.nodeId: endpoint]))
        replicaManager = ReplicaManager(config: config, storage: storage)
        localClusterControl = LocalClusterControl(config: config, storage: storage, metadataCache: metadataCache,
                                                  replicaManager: replicaManager)
        if let coordination {
            let membership = ClusterMembership(config: config, options: coordination, metadataCache: metadataCache,
                                               replicaManager: replicaManager, storage: storage)
            self.membership = membership
            clusterControl = CoordinatedClusterControl(config: config, metadataCache: metadataCache, membership: membership)
        } else {
            membership = nil
            clusterControl = localClusterControl
        }
        producerIdManager = ProducerIdManager(clusterControl: clusterControl)
        var versions = SupportedApiVersions.broker
        if let groupCoordinator {
            for (api, range) in groupCoordinator.supportedApiVersions { versions[api] = range }
        }
        supportedVersions = versions
    }

    /// The node id.
    public var nodeId: Int32 { config.nodeId }

    /// Whether the broker answers requests (between `start()` and `shutdown()`).
    public var isRunning: Bool { lifecycle.withLock { $0 == .running } }

    /// The ApiVersions table this broker advertises.
    public var apiVersionsTable: [ApiVersionsResponse.ApiVersion] { SupportedApiVersions.table(supportedVersions) }

    /// Loads the cluster metadata and opens every partition's log (recovering durable logs), then
    /// starts the retention task and the group coordinator.
    ///
    /// - Throws: `BrokerError.invalidState` when called twice, or the failure that stopped the start
    ///   (the broker is stopped then; its storage is closed if it owns it).
    public func start() async throws(BrokerError) {
        try lifecycle.withLock { state throws(BrokerError) in
            guard state == .created else { throw .invalidState("start() needs a new broker; this one is \(state)") }
            state = .starting
        }
        do throws(BrokerError) {
            if let membership {
                try await membership.start()
            } else {
                try await localClusterControl.start()
            }
            if let groupCoordinator {
                do {
                    try await groupCoordinator.start(broker: self)
                } catch {
                    throw BrokerError.invalidState("the group coordinator did not start: \(error)")
                }
            }
        } catch {
            replicaManager.shutdown()
            closeOwnedStorage()
            lifecycle.withLock { $0 = .stopped }
            throw error
        }
        startMaintenance()
        lifecycle.withLock { $0 = .running }
    }

    /// Stops answering, ends every waiting request, stops the retention task and the group
    /// coordinator, closes every log (writing state snapshots) and the storage if the broker owns it.
    /// Safe to call more than once.
    public func shutdown() async {
        await shutdown(closingSession: true)
    }

    /// Stops like a process that died: the coordination session is abandoned (it expires after its
    /// timeout, and only then does the controller move leadership away), no clean hand-over. Logs
    /// are closed (the storage keeps what was appended). Single node: the same as `shutdown()`.
    public func kill() async {
        await shutdown(closingSession: false)
    }

    private func shutdown(closingSession: Bool) async {
        let proceed = lifecycle.withLock { state -> Bool in
            guard state == .running || state == .created else { return false }
            state = .stopping
            return true
        }
        guard proceed else { return }
        let task = maintenanceTask.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        await membership?.shutdown(closeSession: closingSession)
        await groupCoordinator?.shutdown()
        replicaManager.shutdown()
        closeOwnedStorage()
        lifecycle.withLock { $0 = .stopped }
        logger.info("broker \(config.nodeId) stopped")
    }

    private func closeOwnedStorage() {
        guard ownsStorage else { return }
        do {
            try storage.close()
        } catch {
            logger.warning("closing the storage failed: \(error)")
        }
    }

    private func startMaintenance() {
        let intervalNanoseconds = UInt64(min(config.logRetentionCheckIntervalMs, Int64.max / 1_000_000)) * 1_000_000
        let clock = config.clock
        let replicaManager = replicaManager
        let task = Task {
            while !Task.isCancelled {
                do {
                    try await clock.sleep(nanoseconds: intervalNanoseconds)
                } catch {
                    return
                }
                replicaManager.runMaintenance()
            }
        }
        maintenanceTask.withLock { $0 = task }
    }

    /// Runs retention, due flushes and producer expiry on every partition now (what the retention
    /// task does every `log.retention.check.interval.ms`). Returns what retention deleted.
    @discardableResult
    public func runMaintenance() -> MaintenanceSummary {
        replicaManager.runMaintenance()
    }

    // MARK: Dispatch

    public func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        let version = context.apiVersion
        if case let .apiVersions(apiVersions) = request {
            return handleApiVersions(apiVersions, version: version).body
        }
        guard let range = supportedVersions[request.apiKey], range.contains(version) else {
            return errorAnswer(to: request, KafkaApiError(.unsupportedVersion,
                                                          "\(request.apiKey.name) v\(version) is not supported"), version: version)
        }
        guard isRunning else {
            return errorAnswer(to: request, Self.notRunningError(for: request.apiKey), version: version)
        }
        switch request {
        case let .produce(produce):
            return await handleProduce(produce, context: context)?.body
        case let .fetch(fetch):
            return await handleFetch(fetch, context: context).body
        case let .listOffsets(listOffsets):
            return handleListOffsets(listOffsets, version: version).body
        case let .metadata(metadata):
            return await handleMetadata(metadata, version: version).body
        case let .findCoordinator(findCoordinator):
            return await handleFindCoordinator(findCoordinator, version: version).body
        case let .createTopics(createTopics):
            return await handleCreateTopics(createTopics, version: version).body
        case let .deleteTopics(deleteTopics):
            return await handleDeleteTopics(deleteTopics, version: version).body
        case let .deleteRecords(deleteRecords):
            return handleDeleteRecords(deleteRecords).body
        case let .initProducerId(initProducerId):
            return await handleInitProducerId(initProducerId).body
        case let .offsetForLeaderEpoch(offsetForLeaderEpoch):
            return handleOffsetForLeaderEpoch(offsetForLeaderEpoch, version: version).body
        case let .describeConfigs(describeConfigs):
            return handleDescribeConfigs(describeConfigs, version: version).body
        case let .alterConfigs(alterConfigs):
            return await handleAlterConfigs(alterConfigs).body
        case let .createPartitions(createPartitions):
            return await handleCreatePartitions(createPartitions).body
        case let .describeCluster(describeCluster):
            return handleDescribeCluster(describeCluster, version: version).body
        default:
            if let groupCoordinator {
                return await groupCoordinator.handle(request, context: context)
            }
            return errorAnswer(to: request, KafkaApiError(.unsupportedVersion), version: version)
        }
    }

    public func connectionClosed(connectionID: UInt64) async {
        await groupCoordinator?.connectionClosed(connectionID: connectionID)
    }

    /// The error for requests that arrive while the broker is not running: retriable codes that make
    /// clients refresh metadata and retry.
    static func notRunningError(for api: ApiKey) -> KafkaApiError {
        switch api {
        case .createTopics, .deleteTopics, .createPartitions, .alterConfigs:
            KafkaApiError(.notController, "The broker is not running")
        case .findCoordinator, .initProducerId:
            KafkaApiError(.coordinatorNotAvailable, "The broker is not running")
        default:
            KafkaApiError(.notLeaderOrFollower, "The broker is not running")
        }
    }
}
