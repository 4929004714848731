import ArgumentParser
import Dispatch
import Logging
import Metrics
import Prometheus
import RivuletBroker
import RivuletCoordination
import RivuletTransport
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `rivulet broker`: one Kafka-compatible broker serving the wire protocol over TCP.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a Kafka-compatible broker over TCP",
        discussion: """
        Serves Kafka's wire protocol (request headers v0-v2, classic and flexible versions) to any Kafka \
        client. SIGTERM or SIGINT stops it cleanly: in-progress requests finish and flush, connections \
        close, logs are flushed and closed. A second signal exits at once.

        Examples:
          rivulet broker --listen 127.0.0.1:9092 --storage memory://
          rivulet broker --listen 0.0.0.0:9092 --advertised-listener broker1.example:9092 \\
            --storage file:///var/lib/rivulet --node-id 1 --metrics 127.0.0.1:9100 \\
            --config num.partitions=3 --config log.retention.ms=3600000

        With --coordinator the broker joins a multi-process cluster: it registers in ZooKeeper (or an \
        in-process ensemble, memory://name), takes part in the controller election, and replicates \
        partitions from their leaders over TCP. Give every broker its own --node-id and storage:
          rivulet broker --coordinator zk://127.0.0.1:2181 --node-id 1 --rack a \\
            --listen 127.0.0.1:9093 --storage file:///var/lib/rivulet-1 \\
            --config zookeeper.session.timeout.ms=6000 --config min.insync.replicas=2
        """)

    @Option(help: "host:port to listen on; port 0 picks a free port (logged at start).")
    var listen: String = "127.0.0.1:9092"

    @Option(name: .customLong("advertised-listener"),
            help: "host:port clients are told to connect to (Metadata). Default: the listen address.")
    var advertisedListener: String?

    @Option(help: "Where the logs live: memory://, file:///dir or mmap:///dir.")
    var storage: String

    @Option(name: .customLong("node-id"), help: "This broker's node id (broker.id).")
    var nodeId: Int32 = 0

    @Option(help: "Join a cluster coordinated by zk://HOST:PORT[/chroot] (or memory://name in-process).")
    var coordinator: String?

    @Option(help: "This broker's rack (broker.rack), for rack-aware replica placement.")
    var rack: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "host:port to serve Prometheus metrics on, at /metrics.")
    var metrics: String?

    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A setting with Kafka's name, key=value; repeatable. Keys: \(BrokerSettings.supportedKeys.joined(separator: ", ")).",
        valueName: "key=value"))
    var settings: [String] = []

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError("--log-level \(logLevel): use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let listenAddress = BrokerAddress(listen) ?? Self.portZeroAddress(listen) else {
            throw ValidationError("--listen \(listen): expected host:port")
        }
        var advertised: BrokerAddress?
        if let advertisedListener {
            guard let address = BrokerAddress(advertisedListener) else {
                throw ValidationError("--advertised-listener \(advertisedListener): expected host:port")
            }
            advertised = address
        } else if ["0.0.0.0", "::", ""].contains(listenAddress.host) {
            throw ValidationError("--listen \(listen) binds every interface; give --advertised-listener HOST:PORT for clients")
        }
        let metricsAddress = try metrics.map { text -> BrokerAddress in
            guard let address = BrokerAddress(text) ?? Self.portZeroAddress(text) else {
                throw ValidationError("--metrics \(text): expected host:port")
            }
            return address
        }
        var brokerSettings = BrokerSettings()
        for setting in settings { try brokerSettings.apply(setting) }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        var metricsFactory = PrometheusMetricsFactory(registry: registry)
        // Broker requests take tens of microseconds to seconds (long polls): buckets from 50 µs.
        metricsFactory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(metricsFactory)
        let logger = Logger(label: "rivulet.broker")
        let signals = TerminationSignals()

        if let coordinator {
            do {
                _ = try CoordinatorEndpoint(parsing: coordinator)
            } catch {
                throw ValidationError("--coordinator \(coordinator): \(error)")
            }
        }
        // Bind first when the port is picked by the system, so the broker can advertise it, and in a
        // cluster, so other brokers can fetch from this one as soon as it registers.
        var serverConfig = brokerSettings.server
        serverConfig.listenAddress = listenAddress
        let deferred = DeferredRequestHandler()
        var server: TCPServer?
        if listenAddress.port == 0 || coordinator != nil {
            server = try await TCPServer.start(config: serverConfig, handler: deferred, logger: Logger(label: "rivulet.tcp"))
        }
        let boundAddress = server?.localAddress ?? listenAddress
        var config = BrokerConfig(nodeId: nodeId, advertisedAddress: advertised ?? boundAddress, storageURL: storage,
                                  logger: logger)
        config.rack = rack
        do {
            try brokerSettings.applyBroker(&config)
        } catch {
            await server?.close()
            throw ValidationError("\(error)")
        }
        let broker: Broker
        do {
            var coordination: ClusterCoordinationOptions?
            if let coordinator {
                let sessionTimeoutMs = config.zookeeperSessionTimeoutMs
                coordination = ClusterCoordinationOptions(
                    connect: {
                        try await Coordinators.connect(url: coordinator,
                                                       configuration: CoordinatorConfiguration(sessionTimeoutMs: sessionTimeoutMs))
                    },
                    transport: TCPTransport(config: TCPTransportConfig(requestTimeoutMs: config.replicaSocketTimeoutMs)))
            }
            broker = try Broker(config: config, groupCoordinator: BrokerGroupCoordinator(config: brokerSettings.groups),
                                coordination: coordination)
            try await broker.start()
        } catch {
            await server?.close()
            logger.critical("broker did not start", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        deferred.target = broker
        do {
            if server == nil {
                server = try await TCPServer.start(config: serverConfig, handler: broker, logger: Logger(label: "rivulet.tcp"))
            }
        } catch {
            logger.critical("cannot listen", metadata: ["error": "\(error)"])
            await broker.shutdown()
            throw ExitCode.failure
        }
        var metricsServer: MetricsServer?
        if let metricsAddress {
            do {
                metricsServer = try await MetricsServer.start(address: metricsAddress, registry: registry,
                                                              logSizes: { BrokerLogSizes.samples(of: broker) },
                                                              logger: Logger(label: "rivulet.metrics"))
            } catch {
                logger.critical("cannot serve metrics", metadata: ["error": "\(error)"])
                await server?.close()
                await broker.shutdown()
                throw ExitCode.failure
            }
        }
        logger.info("broker started", metadata: [
            "node.id": "\(nodeId)", "listen": "\(boundAddress)", "advertised": "\(config.advertisedAddress)",
            "coordinator": "\(coordinator ?? "none")", "rack": "\(rack ?? "none")",
            "storage": "\(storage)", "metrics": "\(metricsServer.map { "http://\($0.localAddress)/metrics" } ?? "off")",
        ])

        let signal = await signals.next()
        logger.info("stopping", metadata: ["signal": "\(signal == SIGTERM ? "SIGTERM" : "SIGINT")"])
        await server?.close()
        await metricsServer?.close()
        await broker.shutdown()
        logger.info("broker stopped cleanly")
    }

    /// `host:0` (BrokerAddress rejects port 0, which only a listener may ask for).
    static func portZeroAddress(_ text: String) -> BrokerAddress? {
        guard text.hasSuffix(":0"), let host = BrokerAddress(String(text.dropLast(2)) + ":1")?.host else { return nil }
        return BrokerAddress(host: host, port: 0)
    }
}

/// `--config key=value` settings, by Kafka's names.
struct BrokerSettings {
    static let supportedKeys = [
        "auto.create.topics.enable", "auto.leader.rebalance.enable", "connections.max.idle.ms", "default.replication.factor", "delete.topic.enable",
        "leader.imbalance.check.interval.seconds", "leader.imbalance.per.broker.percentage",
        "log.flush.interval.messages", "log.flush.interval.ms", "log.message.timestamp.type", "log.retention.bytes",
        "log.retention.check.interval.ms", "log.retention.ms", "log.segment.bytes", "max.connections", "message.max.bytes",
        "min.insync.replicas", "num.partitions", "replica.fetch.backoff.ms", "replica.fetch.max.bytes",
        "replica.fetch.response.max.bytes", "replica.fetch.wait.max.ms", "replica.lag.time.max.ms", "replica.socket.timeout.ms",
        "socket.request.max.bytes", "unclean.leader.election.enable", "zookeeper.session.timeout.ms",
    ] + GroupCoordinatorConfig.settingNames

    var server = TCPServerConfig()
    /// The group coordinator's settings (`group.*`, `offsets.topic.*`).
    var groups = GroupCoordinatorConfig()
    private var broker: [(key: String, value: String)] = []

    mutating func apply(_ setting: String) throws {
        guard let equals = setting.firstIndex(of: "=") else { throw ValidationError("--config \(setting): expected key=value") }
        let key = String(setting[..<equals])
        let value = String(setting[setting.index(after: equals)...])
        func int<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let parsed = T(value) else { throw ValidationError("--config \(key)=\(value): expected an integer") }
            return parsed
        }
        do {
            if try groups.set(key, value) {
                if key == "group.initial.rebalance.delay.ms" { broker.append((key, value)) }
                return
            }
        } catch {
            throw ValidationError("--config \(error)")
        }
        switch key {
        case "socket.request.max.bytes":
            let bytes = try int(Int.self)
            guard bytes > 0 else { throw ValidationError("--config \(key) must be positive") }
            server.socketRequestMaxBytes = bytes
        case "max.connections":
            let count = try int(Int.self)
            guard count > 0 else { throw ValidationError("--config \(key) must be positive") }
            server.connectionsMax = count
        case "connections.max.idle.ms":
            let ms = try int(Int64.self)
            guard ms >= 0 else { throw ValidationError("--config \(key) must not be negative") }
            server.connectionsMaxIdleMs = ms
        case _ where Self.supportedKeys.contains(key):
            broker.append((key, value))
        default:
            throw ValidationError("--config \(key): unknown setting; supported: \(Self.supportedKeys.joined(separator: ", "))")
        }
    }

    /// Applies the broker settings; `BrokerConfig.validate()` (run by the broker) checks ranges.
    func applyBroker(_ config: inout BrokerConfig) throws {
        for (key, value) in broker {
            func int<T: FixedWidthInteger>(_: T.Type) throws -> T {
                guard let parsed = T(value) else { throw ValidationError("--config \(key)=\(value): expected an integer") }
                return parsed
            }
            func bool() throws -> Bool {
                guard let parsed = Bool(value) else { throw ValidationError("--config \(key)=\(value): expected true or false") }
                return parsed
            }
            switch key {
            case "auto.create.topics.enable": config.autoCreateTopicsEnable = try bool()
            case "auto.leader.rebalance.enable": config.autoLeaderRebalanceEnable = try bool()
            case "leader.imbalance.check.interval.seconds":
                let (milliseconds, overflow) = try int(Int64.self).multipliedReportingOverflow(by: 1000)
                guard !overflow else { throw ValidationError("--config \(key)=\(value): too large") }
                config.leaderImbalanceCheckIntervalMs = milliseconds
            case "leader.imbalance.per.broker.percentage": config.leaderImbalancePerBrokerPercentage = try int(Int.self)
            case "delete.topic.enable": config.deleteTopicEnable = try bool()
            case "log.flush.interval.messages": config.logFlushIntervalMessages = try int(Int64.self)
            case "log.flush.interval.ms": config.logFlushIntervalMs = try int(Int64.self)
            case "log.message.timestamp.type": config.logMessageTimestampType = value
            case "log.retention.bytes": config.logRetentionBytes = try int(Int64.self)
            case "log.retention.check.interval.ms": config.logRetentionCheckIntervalMs = try int(Int64.self)
            case "log.retention.ms": config.logRetentionMs = try int(Int64.self)
            case "log.segment.bytes": config.logSegmentBytes = try int(Int.self)
            case "message.max.bytes": config.messageMaxBytes = try int(Int.self)
            case "min.insync.replicas": config.minInsyncReplicas = try int(Int32.self)
            case "num.partitions": config.numPartitions = try int(Int32.self)
            case "default.replication.factor": config.defaultReplicationFactor = try int(Int16.self)
            case "replica.fetch.backoff.ms": config.replicaFetchBackoffMs = try int(Int64.self)
            case "replica.fetch.max.bytes": config.replicaFetchMaxBytes = try int(Int32.self)
            case "replica.fetch.response.max.bytes": config.replicaFetchResponseMaxBytes = try int(Int32.self)
            case "replica.fetch.wait.max.ms": config.replicaFetchWaitMaxMs = try int(Int64.self)
            case "replica.lag.time.max.ms": config.replicaLagTimeMaxMs = try int(Int64.self)
            case "replica.socket.timeout.ms": config.replicaSocketTimeoutMs = try int(Int64.self)
            case "unclean.leader.election.enable": config.uncleanLeaderElectionEnable = try bool()
            case "zookeeper.session.timeout.ms": config.zookeeperSessionTimeoutMs = try int(Int.self)
            case "group.initial.rebalance.delay.ms": config.groupInitialRebalanceDelayMs = try int(Int64.self)
            default: throw ValidationError("--config \(key): unknown setting")
            }
        }
    }
}

/// Waits for SIGTERM or SIGINT. The first one is returned by `next()`; a second one exits the
/// process at once (status 130), for a shutdown that hangs.
final class TerminationSignals: Sendable {
    private struct State {
        var received: Int32?
        var waiter: CheckedContinuation<Int32, Never>?
        var count = 0
    }

    private let state = Mutex(State())
    /// Kept alive for the life of the process; only touched here, under the lock.
    private let sources = Mutex<[any DispatchSourceSignal]>([])

    init() {
        let queue = DispatchQueue(label: "rivulet.signals")
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            sources.withLock { sources in
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler { [weak self] in self?.received(number) }
                source.resume()
                sources.append(source)
            }
        }
    }

    private func received(_ number: Int32) {
        let (waiter, repeated) = state.withLock { state -> (CheckedContinuation<Int32, Never>?, Bool) in
            state.count += 1
            if state.count > 1 { return (nil, true) }
            state.received = number
            defer { state.waiter = nil }
            return (state.waiter, false)
        }
        if repeated {
            FileHandleOutput.standardError("second signal: exiting now\n")
            exit(130)
        }
        waiter?.resume(returning: number)
    }

    /// Waits for the first signal.
    func next() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Int32? in
                if let received = state.received { return received }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// Writes to stderr without Foundation.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
