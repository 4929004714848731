import Logging
import RivuletCoordination
import RivuletCore
import RivuletStorage
import RivuletTransport
import RivuletWire
import Synchronization

/// Brokers running in this process on an `InProcessNetwork`, for tests, the CLI and the workload
/// harness: start, stop (clean shutdown), restart from the same storage, and inject faults.
///
/// Each broker is reachable at a fixed address through a stable handler chain,
/// `FaultyRequestHandler` -> the current `Broker`, so a TCP listener (or anything else) can serve
/// `handler(of:)` across restarts. Storage is per broker: `memory://` engines are kept across
/// restarts (their data survives a stop as long as the cluster lives); `file:///dir` and `mmap:///dir`
/// get one subdirectory per broker (`dir/broker-<id>`), reopened (and recovered) on restart.
///
/// **Clusters.** With more than one broker (or an explicit `coordinator`) the brokers join a
/// coordinated cluster: each opens a session on the coordinator (a private `InMemoryEnsemble` by
/// default, `memory://name` or `zk://host:port`), registers, elects a controller, and replicates
/// partitions by fetching from leaders over the in-process network. A single broker without a
/// coordinator is a plain single node, as before.
///
/// **Faults** (for tests and the workload harness): `kill(broker:)` (process death: the session is
/// abandoned and expires after its timeout), `restart(broker:)`, `pause(broker:forMs:)` (the process
/// freezes: requests are held, its session stops heartbeating, its fetchers stop),
/// `partition(broker:)`/`heal(broker:)` (cut from clients, other brokers and the coordinator), and
/// the observers `leader(of:partition:)`, `controllerId`, `waitForLeader`.
public final class EmbeddedCluster: Sendable {
    /// Which coordination service the brokers use.
    public enum CoordinatorChoice: Sendable, Hashable {
        /// None for a single broker; a private in-memory ensemble for more.
        case automatic
        /// No coordination: only valid for one broker (a single node).
        case none
        /// A private in-memory ensemble on the cluster's clock.
        case privateMemory
        /// A coordinator URL: `memory://name` (shared in-process ensemble) or `zk://host:port[/chroot]`.
        case url(String)
    }

    /// How to build the cluster.
    public struct Configuration: Sendable {
        /// Brokers to run (1 until replication exists).
        public var brokerCount: Int
        /// Where brokers store data: `memory://`, `file:///dir`, `mmap:///dir`.
        public var storageURL: String
        /// The clock of every broker and of the network's injected delays.
        public var clock: any EngineClock
        /// The seed broker seeds derive from (topic ids, cluster id).
        public var randomSeed: UInt64
        /// The address of broker `id` (in-process addresses are only names, but they are what
        /// Metadata answers carry, so a TCP front end can advertise real ones here).
        public var address: @Sendable (Int32) -> BrokerAddress
        /// Adjusts each broker's settings (retention, partitions...) before it starts.
        public var customize: @Sendable (inout BrokerConfig) -> Void
        /// The logger brokers derive theirs from.
        public var logger: Logger
        /// The group coordinator of broker `id` (nil: none, FindCoordinator answers
        /// COORDINATOR_NOT_AVAILABLE). Default: a `BrokerGroupCoordinator` per broker start.
        public var groupCoordinator: @Sendable (Int32) -> (any GroupCoordinatorService)?
        /// The coordination service.
        public var coordinator: CoordinatorChoice = .automatic
        /// The coordination session timeout each broker asks for, in milliseconds
        /// (`zookeeper.session.timeout.ms`; a killed broker's partitions move after about this long).
        public var sessionTimeoutMs: Int = 6000
        /// The rack of broker `id` (`broker.rack`), nil for none.
        public var rack: @Sendable (Int32) -> String? = { _ in nil }

        public init(brokerCount: Int = 1, storageURL: String = "memory://", clock: any EngineClock = SystemClock(),
                    randomSeed: UInt64 = UInt64.random(in: .min ... .max),
                    address: @escaping @Sendable (Int32) -> BrokerAddress = { BrokerAddress(host: "localhost", port: 9092 + Int($0)) },
                    customize: @escaping @Sendable (inout BrokerConfig) -> Void = { _ in },
                    logger: Logger = Logger(label: "rivulet.cluster"),
                    groupCoordinator: @escaping @Sendable (Int32) -> (any GroupCoordinatorService)? = { _ in BrokerGroupCoordinator() }) {
            self.brokerCount = brokerCount
            self.storageURL = storageURL
            self.clock = clock
            self.randomSeed = randomSeed
            self.address = address
            self.customize = customize
            self.logger = logger
            self.groupCoordinator = groupCoordinator
        }
    }

    /// One broker slot: a stable address and handler chain, and the broker currently in it.
    final class Node: Sendable {
        let nodeId: Int32
        let address: BrokerAddress
        let config: BrokerConfig
        let slot: BrokerSlot
        let faults: FaultyRequestHandler
        /// The memory storage kept across restarts (nil for durable storage, reopened each start).
        let memoryStorage: (any StorageEngine)?

        init(nodeId: Int32, address: BrokerAddress, config: BrokerConfig, memoryStorage: (any StorageEngine)?) {
            self.nodeId = nodeId
            self.address = address
            self.config = config
            self.memoryStorage = memoryStorage
            slot = BrokerSlot()
            faults = FaultyRequestHandler(wrapping: slot, clock: config.clock)
        }
    }

    /// The settings the cluster was built with.
    public let configuration: Configuration
    /// The network brokers are registered on.
    public let network: InProcessNetwork
    let nodes: [Int32: Node]
    /// Serializes start, stop and restart of brokers.
    private let transitions = Mutex<Set<Int32>>([])

    /// The private in-memory ensemble, when the cluster uses one.
    public let ensemble: InMemoryEnsemble?
    /// Brokers cut off from the network (their outgoing connections fail too).
    let isolated = Mutex<Set<Int32>>([])

    /// Builds the cluster (nothing runs until `start()`).
    ///
    /// - Throws: `BrokerError.invalidConfig` for no brokers, several brokers without a coordinator, or
    ///   a bad broker setting; `.storage`.
    public init(_ configuration: Configuration = Configuration(), network: InProcessNetwork? = nil) throws(BrokerError) {
        guard configuration.brokerCount >= 1, configuration.brokerCount <= 1000 else {
            throw .invalidConfig(name: "brokers", value: "\(configuration.brokerCount)", reason: "must be between 1 and 1000")
        }
        if configuration.coordinator == .none, configuration.brokerCount > 1 {
            throw .invalidConfig(name: "coordinator", value: "none", reason: "\(configuration.brokerCount) brokers need a coordinator")
        }
        self.configuration = configuration
        self.network = network ?? InProcessNetwork(clock: configuration.clock)
        switch configuration.coordinator {
        case .privateMemory:
            ensemble = Self.makeEnsemble(configuration.clock)
        case .automatic where configuration.brokerCount > 1:
            ensemble = Self.makeEnsemble(configuration.clock)
        default:
            ensemble = nil
        }
        var nodes: [Int32: Node] = [:]
        let scheme = configuration.storageURL.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        for index in 0 ..< configuration.brokerCount {
            let nodeId = Int32(index)
            let address = configuration.address(nodeId)
            var seeds = SeededGenerator(seed: configuration.randomSeed &+ UInt64(index))
            var config = BrokerConfig(nodeId: nodeId, advertisedAddress: address,
                                      storageURL: Self.brokerStorageURL(configuration.storageURL, scheme: scheme, nodeId: nodeId),
                                      clock: configuration.clock, randomSeed: seeds.next(),
                                      logger: Self.logger(configuration.logger, nodeId: nodeId))
            config.rack = configuration.rack(nodeId)
            config.zookeeperSessionTimeoutMs = configuration.sessionTimeoutMs
            if configuration.brokerCount > 1 {
                config.defaultReplicationFactor = Int16(min(3, configuration.brokerCount))
            }
            configuration.customize(&config)
            try config.validate()
            var memoryStorage: (any StorageEngine)?
            if scheme == "memory" {
                do throws(StorageError) {
                    memoryStorage = try StorageEngines.open(url: config.storageURL, clock: config.clock)
                } catch {
                    throw .storage(error)
                }
            }
            nodes[nodeId] = Node(nodeId: nodeId, address: address, config: config, memoryStorage: memoryStorage)
        }
        self.nodes = nodes
    }

    private static func makeEnsemble(_ clock: any EngineClock) -> InMemoryEnsemble {
        InMemoryEnsemble(clock: clock, configuration: InMemoryEnsemble.Configuration(
            tickTimeMs: 50, minSessionTimeoutMs: 100, maxSessionTimeoutMs: 600_000))
    }

    /// Whether the brokers form a coordinated cluster.
    public var isCoordinated: Bool {
        switch configuration.coordinator {
        case .none: false
        case .automatic: configuration.brokerCount > 1
        case .privateMemory, .url: true
        }
    }

    /// The coordination options of broker `nodeId` (nil for a single node).
    private func coordinationOptions(_ nodeId: Int32) -> ClusterCoordinationOptions? {
        guard isCoordinated else { return nil }
        let timeoutMs = nodes[nodeId]?.config.zookeeperSessionTimeoutMs ?? configuration.sessionTimeoutMs
        let clock = configuration.clock
        let connect: @Sendable () async throws -> any Coordinator
        if let ensemble {
            connect = { try ensemble.openSession(sessionTimeoutMs: timeoutMs) }
        } else if case let .url(url) = configuration.coordinator {
            connect = {
                try await Coordinators.connect(url: url, configuration: CoordinatorConfiguration(sessionTimeoutMs: timeoutMs, clock: clock))
            }
        } else {
            return nil
        }
        return ClusterCoordinationOptions(connect: connect, transport: IsolatableTransport(
            inner: InProcessTransport(network: network), isCut: { [weak self] in self?.isIsolated(nodeId) ?? false }))
    }

    func isIsolated(_ nodeId: Int32) -> Bool { isolated.withLock { $0.contains(nodeId) } }

    private static func brokerStorageURL(_ url: String, scheme: String, nodeId: Int32) -> String {
        guard scheme == "file" || scheme == "mmap" else { return url }
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        return "\(trimmed)/broker-\(nodeId)"
    }

    private static func logger(_ base: Logger, nodeId: Int32) -> Logger {
        var logger = base
        logger[metadataKey: "broker"] = "\(nodeId)"
        return logger
    }

    /// The brokers' node ids, sorted.
    public var brokerIds: [Int32] { nodes.keys.sorted() }

    /// The addresses of every broker, for a client's bootstrap list.
    public var bootstrapAddresses: [BrokerAddress] { brokerIds.compactMap { nodes[$0]?.address } }

    /// An in-process transport on the cluster's network.
    public var transport: InProcessTransport { InProcessTransport(network: network) }

    /// The running broker `nodeId`, nil when it is stopped.
    public func broker(_ nodeId: Int32) -> Broker? { nodes[nodeId]?.slot.broker }

    /// The fault injector in front of broker `nodeId` (it stays the same across restarts).
    public func faults(of nodeId: Int32) -> FaultyRequestHandler? { nodes[nodeId]?.faults }

    /// The stable handler of broker `nodeId` (faults, then the current broker), for transports that
    /// serve it, such as a TCP listener. It answers errors while the broker is stopped.
    public func handler(of nodeId: Int32) -> (any KafkaRequestHandler)? { nodes[nodeId]?.faults }

    /// The storage URL of broker `nodeId` (its own subdirectory for `file://` and `mmap://`).
    public func storageURL(of nodeId: Int32) -> String? { nodes[nodeId]?.config.storageURL }

    /// The address of broker `nodeId`.
    public func address(of nodeId: Int32) -> BrokerAddress? { nodes[nodeId]?.address }

    /// Starts every broker that is not running and, on a coordinated cluster, waits until it is ready:
    /// a controller is active and every running broker's metadata lists every running broker, so that
    /// a topic created right after `start()` can place its replicas on all of them.
    ///
    /// - Throws: the first broker's start failure (brokers started before it keep running), or
    ///   `BrokerError.invalidState` when the cluster is not ready within `readyTimeoutMs` (wall-clock
    ///   time: the wait does not depend on the cluster's clock).
    public func start(readyTimeoutMs: Int64 = 30_000) async throws(BrokerError) {
        for nodeId in brokerIds where broker(nodeId) == nil {
            try await startBroker(nodeId)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(readyTimeoutMs)
        while let waitingFor = readinessGap() {
            guard clock.now < deadline else {
                throw .invalidState("the cluster was not ready within \(readyTimeoutMs) ms: \(waitingFor)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// What the cluster still lacks to be ready (see `start()`), or nil when it is ready.
    public func readinessGap() -> String? {
        let running = brokerIds.filter { broker($0) != nil }
        guard running.count > 1 else { return nil }
        if controllerId == nil { return "no active controller" }
        for nodeId in running where !isIsolated(nodeId) {
            guard let known = broker(nodeId)?.metadataCache.image.brokers else { continue }
            let missing = running.filter { known[$0] == nil }
            if !missing.isEmpty { return "broker \(nodeId) does not see brokers \(missing) yet" }
        }
        return nil
    }

    /// Stops every broker and releases the memory storage.
    public func shutdown() async {
        for nodeId in brokerIds { await stopBroker(nodeId) }
        for node in nodes.values {
            try? node.memoryStorage?.close()
        }
    }

    /// Starts broker `nodeId` from its storage and registers it on the network.
    ///
    /// - Throws: `BrokerError.invalidState` for an unknown id or a broker already running, or the start failure.
    public func startBroker(_ nodeId: Int32) async throws(BrokerError) {
        guard let node = nodes[nodeId] else { throw .invalidState("no broker \(nodeId) in this cluster") }
        try beginTransition(nodeId)
        defer { endTransition(nodeId) }
        guard node.slot.broker == nil else { throw .invalidState("broker \(nodeId) is running") }
        let broker: Broker
        let groups = configuration.groupCoordinator(nodeId)
        let coordination = coordinationOptions(nodeId)
        if let storage = node.memoryStorage {
            broker = try Broker(config: node.config, storage: storage, ownsStorage: false, groupCoordinator: groups,
                                coordination: coordination)
        } else {
            broker = try Broker(config: node.config, groupCoordinator: groups, coordination: coordination)
        }
        // Reachable before the broker has its metadata, so a cluster's brokers can start together.
        node.slot.broker = broker
        network.register(node.faults, at: node.address)
        do throws(BrokerError) {
            try await broker.start()
        } catch {
            network.unregister(node.address)
            node.slot.broker = nil
            throw error
        }
    }

    /// Stops broker `nodeId` cleanly (its connections fail from now on) and keeps its storage for a restart.
    public func stopBroker(_ nodeId: Int32) async {
        guard let node = nodes[nodeId], (try? beginTransition(nodeId)) != nil else { return }
        defer { endTransition(nodeId) }
        network.unregister(node.address)
        let broker = node.slot.broker
        node.slot.broker = nil
        await broker?.shutdown()
    }

    /// Stops and starts broker `nodeId` from the same storage.
    ///
    /// - Throws: the start failure.
    public func restartBroker(_ nodeId: Int32) async throws(BrokerError) {
        await stopBroker(nodeId)
        try await startBroker(nodeId)
    }

    func beginTransition(_ nodeId: Int32) throws(BrokerError) {
        let started = transitions.withLock { $0.insert(nodeId).inserted }
        guard started else { throw .invalidState("broker \(nodeId) is already starting or stopping") }
    }

    func endTransition(_ nodeId: Int32) {
        _ = transitions.withLock { $0.remove(nodeId) }
    }
}

/// A stable request handler in front of whichever broker currently runs in a slot; while none does,
/// requests get retriable "not running" errors.
final class BrokerSlot: KafkaRequestHandler {
    private let current = Mutex<Broker?>(nil)

    var broker: Broker? {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    func handle(_ request: KafkaRequestBody, context: RequestContext) async -> KafkaResponseBody? {
        if let broker { return await broker.handle(request, context: context) }
        return Broker.errorAnswer(to: request, Broker.notRunningError(for: request.apiKey), version: context.apiVersion,
                                  apiKeys: SupportedApiVersions.table(SupportedApiVersions.broker))
    }

    func connectionClosed(connectionID: UInt64) async {
        await broker?.connectionClosed(connectionID: connectionID)
    }
}
