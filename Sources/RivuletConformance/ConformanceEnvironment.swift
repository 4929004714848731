import Foundation
import Logging
import RivuletBroker
import RivuletClient
import RivuletCore
import RivuletTransport
import Synchronization

/// Which cluster the conformance suites check.
public enum ConformanceTarget: Sendable, Hashable, CustomStringConvertible {
    /// An embedded Rivulet broker on `storageURL` (`memory://`, `file:///dir`, `mmap:///dir`),
    /// reached in process or over a TCP listener on a free 127.0.0.1 port. Each suite gets a fresh
    /// broker (and, for durable storage, its own subdirectory of `dir`).
    case embedded(storageURL: String, tcp: Bool)
    /// An external Kafka-compatible cluster. Suites that need to restart brokers or inject faults
    /// are skipped.
    case external(bootstrap: [BrokerAddress])

    public var description: String {
        switch self {
        case let .embedded(storageURL, tcp): "embedded \(storageURL) over \(tcp ? "tcp" : "inproc")"
        case let .external(bootstrap): "kafka://" + bootstrap.map(\.description).joined(separator: ",")
        }
    }
}

/// What one suite runs against: a cluster (fresh embedded broker, or the external one), clients
/// that are closed with it, and for embedded brokers the cluster itself (fault injection, restarts).
///
/// Isolation: `Sendable`; a suite uses it from several tasks. `close()` once, by the runner.
public final class ConformanceEnvironment: Sendable {
    /// Why the environment could not start or reopen.
    public struct SetupError: Error, Sendable, CustomStringConvertible {
        /// What failed.
        public let message: String
        public var description: String { message }
    }

    /// The target it was built for.
    public let target: ConformanceTarget
    /// A prefix that makes this suite's topic names unique on a shared cluster.
    public let topicPrefix: String
    private let storageURL: String?
    private let state: Mutex<State>

    private struct State {
        var cluster: EmbeddedCluster?
        var listeners: EmbeddedTCPListeners?
        var bootstrap: [BrokerAddress]
        var transport: any Transport
        var clients: [ClusterClient] = []
    }

    private init(target: ConformanceTarget, topicPrefix: String, storageURL: String?, state: State) {
        self.target = target
        self.topicPrefix = topicPrefix
        self.storageURL = storageURL
        self.state = Mutex(state)
    }

    /// Starts a fresh environment for suite `suite` (an embedded broker on its own storage, or a
    /// connection to the external cluster).
    ///
    /// - Throws: `SetupError` when the broker cannot start or its directory cannot be made.
    public static func start(_ target: ConformanceTarget, suite: String) async throws -> ConformanceEnvironment {
        let prefix = "conform-\(suite)-" + String(UInt32.random(in: 0 ... .max), radix: 36)
        switch target {
        case let .external(bootstrap):
            return ConformanceEnvironment(target: target, topicPrefix: prefix, storageURL: nil,
                                          state: State(bootstrap: bootstrap, transport: TCPTransport()))
        case let .embedded(storageURL, tcp):
            var url = storageURL
            for scheme in ["file://", "mmap://"] where storageURL.hasPrefix(scheme) {
                let base = String(storageURL.dropFirst(scheme.count))
                let directory = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/\(prefix)"
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw SetupError(message: "cannot create \(directory): \(error.localizedDescription)")
                }
                url = scheme + directory
            }
            let environment = ConformanceEnvironment(target: target, topicPrefix: prefix, storageURL: url,
                                                     state: State(bootstrap: [], transport: TCPTransport()))
            try await environment.startCluster(tcp: tcp)
            return environment
        }
    }

    private func startCluster(tcp: Bool) async throws {
        guard let storageURL else { return }
        var logger = Logger(label: "rivulet.conform.broker")
        logger.logLevel = .critical
        let configuration = EmbeddedCluster.Configuration(
            storageURL: storageURL, randomSeed: 7,
            customize: { config in
                // Retention runs only when a suite asks for it (runMaintenance).
                config.logRetentionCheckIntervalMs = 3_600_000
            },
            logger: logger)
        do {
            if tcp {
                let (cluster, listeners) = try await EmbeddedCluster.startWithTCP(configuration, logger: logger)
                state.withLock { state in
                    state.cluster = cluster
                    state.listeners = listeners
                    state.bootstrap = listeners.bootstrapAddresses
                    state.transport = TCPTransport()
                }
            } else {
                let cluster = try EmbeddedCluster(configuration)
                try await cluster.start()
                state.withLock { state in
                    state.cluster = cluster
                    state.bootstrap = cluster.bootstrapAddresses
                    state.transport = cluster.transport
                }
            }
        } catch {
            throw SetupError(message: "cannot start an embedded broker on \(storageURL): \(error)")
        }
    }

    /// The embedded cluster (nil for an external target).
    public var cluster: EmbeddedCluster? { state.withLock { $0.cluster } }

    /// Whether the target keeps data when its broker process is replaced (`file://`, `mmap://`).
    public var isDurable: Bool {
        guard let storageURL else { return false }
        return storageURL.hasPrefix("file://") || storageURL.hasPrefix("mmap://")
    }

    /// A new cluster client (closed by `close()`), with short retry backoffs for quick suites.
    public func client(_ configure: (inout ClientConfig) -> Void = { _ in }) -> ClusterClient {
        let (bootstrap, transport) = state.withLock { ($0.bootstrap, $0.transport) }
        var config = ClientConfig(bootstrapServers: bootstrap, clientId: "rivulet-conform")
        config.retryBackoffMs = 5
        config.retryBackoffMaxMs = 50
        config.reconnectBackoffMs = 5
        config.reconnectBackoffMaxMs = 50
        config.requestTimeoutMs = 10_000
        config.defaultApiTimeoutMs = 20_000
        configure(&config)
        let client = ClusterClient(config: config, transport: transport)
        state.withLock { $0.clients.append(client) }
        return client
    }

    /// An admin client on a new cluster client.
    public func admin() -> Admin { Admin(cluster: client()) }

    /// A producer on its own cluster client.
    public func producer(_ configure: (inout ProducerConfig) -> Void = { _ in },
                         client configureClient: (inout ClientConfig) -> Void = { _ in }) throws -> Producer {
        var config = ProducerConfig()
        config.deliveryTimeoutMs = 30_000
        config.maxBlockMs = 20_000
        configure(&config)
        return try Producer(cluster: client(configureClient), config: config)
    }

    /// A consumer (earliest reset, 100 ms broker wait) on its own cluster client.
    public func consumer(_ configure: (inout ConsumerConfig) -> Void = { _ in }) throws -> Consumer {
        var config = ConsumerConfig()
        config.autoOffsetReset = .earliest
        config.fetchMaxWaitMs = 100
        configure(&config)
        return try Consumer(cluster: client(), config: config)
    }

    /// Replaces the broker: with durable storage the whole cluster shuts down and a new one opens
    /// the same directory (a process restart); with memory storage the broker restarts inside the
    /// cluster, which keeps the memory engine. Clients made before keep pointing at the old
    /// listeners over TCP; make new ones.
    ///
    /// - Throws: `SetupError` for an external target or when the broker does not come back.
    public func reopen() async throws {
        guard case let .embedded(_, tcp) = target else { throw SetupError(message: "an external cluster cannot be restarted") }
        let (cluster, listeners) = state.withLock { ($0.cluster, $0.listeners) }
        guard let cluster else { throw SetupError(message: "no embedded cluster") }
        if isDurable {
            await listeners?.close()
            await cluster.shutdown()
            state.withLock { state in
                state.cluster = nil
                state.listeners = nil
            }
            try await startCluster(tcp: tcp)
        } else {
            do {
                for nodeId in cluster.brokerIds { try await cluster.restartBroker(nodeId) }
            } catch {
                throw SetupError(message: "the broker did not restart: \(error)")
            }
        }
    }

    /// Closes every client, stops the embedded broker and removes its storage directory.
    public func close() async {
        let (clients, cluster, listeners) = state.withLock { state in
            defer {
                state.clients = []
                state.cluster = nil
                state.listeners = nil
            }
            return (state.clients, state.cluster, state.listeners)
        }
        for client in clients { await client.close() }
        await listeners?.close()
        await cluster?.shutdown()
        if let storageURL {
            for scheme in ["file://", "mmap://"] where storageURL.hasPrefix(scheme) {
                try? FileManager.default.removeItem(atPath: String(storageURL.dropFirst(scheme.count)))
            }
        }
    }
}
