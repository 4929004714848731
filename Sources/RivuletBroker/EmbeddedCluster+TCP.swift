import Logging
import NIOCore
import NIOPosix
import RivuletTransport
import Synchronization

/// TCP listeners in front of the brokers of an `EmbeddedCluster`: each broker's stable handler
/// (fault injector, then the current broker) is served over Kafka's wire protocol, so real clients,
/// the Swift client over `TCPTransport` and the workload harness (`--transport tcp`) reach it.
/// Listeners outlive clean broker restarts (a stopped broker answers retriable errors); a broker
/// killed through `EmbeddedCluster.kill(broker:listeners:)` loses its listener as a dead process
/// loses its port, and gets it back on the same address from `restart(broker:listeners:)`. Thread-safe.
public final class EmbeddedTCPListeners: Sendable {
    private struct State {
        /// The listening servers; a killed broker has none.
        var servers: [Int32: TCPServer]
        /// Listeners closed for good (`close()`): nothing reopens.
        var closed = false
    }

    private let state: Mutex<State>
    /// Each broker's listen address and settings, kept for reopening.
    private let listenAddresses: [Int32: BrokerAddress]
    private let configs: [Int32: TCPServerConfig]
    private let logger: Logger

    init(servers: [Int32: TCPServer], logger: Logger = Logger(label: "rivulet.tcp")) {
        state = Mutex(State(servers: servers))
        listenAddresses = servers.mapValues(\.localAddress)
        configs = servers.mapValues(\.config)
        self.logger = logger
    }

    /// The listener of each broker, by node id (a killed broker's is missing).
    public var servers: [Int32: TCPServer] { state.withLock { $0.servers } }

    /// The listen addresses (also the brokers' advertised addresses), sorted by node id.
    public var bootstrapAddresses: [BrokerAddress] { listenAddresses.keys.sorted().compactMap { listenAddresses[$0] } }

    /// A TCP transport for clients of this cluster.
    public func transport(config: TCPTransportConfig = TCPTransportConfig()) -> TCPTransport {
        TCPTransport(config: config)
    }

    /// Closes broker `nodeId`'s listener (the broker keeps running); nothing when it is closed.
    public func closeListener(of nodeId: Int32) async {
        let server = state.withLock { $0.servers.removeValue(forKey: nodeId) }
        await server?.close()
    }

    /// Opens broker `nodeId`'s listener again on its address, serving `handler`; nothing when it is
    /// open or the listeners were closed.
    ///
    /// - Throws: `TCPServerError` when the port cannot be bound again.
    public func reopenListener(of nodeId: Int32, handler: any KafkaRequestHandler) async throws {
        guard let address = listenAddresses[nodeId], var config = configs[nodeId],
              state.withLock({ !$0.closed && $0.servers[nodeId] == nil }) else { return }
        config.listenAddress = address
        var brokerLogger = logger
        brokerLogger[metadataKey: "broker"] = "\(nodeId)"
        let server = try await TCPServer.start(config: config, handler: handler, logger: brokerLogger)
        let keep = state.withLock { state -> Bool in
            guard !state.closed, state.servers[nodeId] == nil else { return false }
            state.servers[nodeId] = server
            return true
        }
        if !keep { await server.close() }
    }

    /// Stops every listener (in-progress requests finish first). The cluster keeps running.
    public func close() async {
        let servers = state.withLock { state -> [TCPServer] in
            state.closed = true
            defer { state.servers.removeAll() }
            return Array(state.servers.values)
        }
        for server in servers { await server.close() }
    }
}

extension EmbeddedCluster {
    /// Process death of broker `nodeId` (`kill(broker:)`); behind `listeners` its listener closes too,
    /// so its connections reset and new ones are refused, as a dead process's port.
    public func kill(broker nodeId: Int32, listeners: EmbeddedTCPListeners?) async {
        await kill(broker: nodeId)
        await listeners?.closeListener(of: nodeId)
    }

    /// Starts broker `nodeId` again (`restart(broker:)`); behind `listeners` its listener reopens on
    /// the same address if a kill closed it.
    ///
    /// - Throws: the broker's start failure, or `TCPServerError` when the port cannot be bound again.
    public func restart(broker nodeId: Int32, listeners: EmbeddedTCPListeners?) async throws {
        try await restart(broker: nodeId)
        guard let listeners, let handler = handler(of: nodeId) else { return }
        try await listeners.reopenListener(of: nodeId, handler: handler)
    }

    /// Builds and starts a cluster whose brokers are served over TCP on `host`, each on a free port
    /// (or on `basePort + node id` when `basePort` is not 0) that is also its advertised address (so
    /// Metadata answers point clients at the listeners). Brokers replicate among themselves over the
    /// in-process network, which has the same addresses.
    /// `configuration.address` is replaced by the listen addresses. The in-process network keeps
    /// working with the same addresses.
    ///
    /// Stop both: `await listeners.close()`, then `await cluster.shutdown()`.
    ///
    /// - Throws: `TCPServerError` when a port cannot be bound, or the cluster's `BrokerError`; nothing
    ///   stays open then.
    public static func startWithTCP(_ configuration: Configuration = Configuration(), host: String = "127.0.0.1",
                                    serverConfig: TCPServerConfig = TCPServerConfig(),
                                    network: InProcessNetwork? = nil, basePort: Int = 0,
                                    logger: Logger = Logger(label: "rivulet.tcp")) async throws -> (cluster: EmbeddedCluster, listeners: EmbeddedTCPListeners) {
        var servers: [Int32: TCPServer] = [:]
        var deferred: [Int32: DeferredRequestHandler] = [:]
        do {
            for index in 0 ..< configuration.brokerCount {
                let nodeId = Int32(index)
                let handler = DeferredRequestHandler()
                var config = serverConfig
                config.listenAddress = BrokerAddress(host: host, port: basePort == 0 ? 0 : basePort + index)
                var brokerLogger = logger
                brokerLogger[metadataKey: "broker"] = "\(nodeId)"
                servers[nodeId] = try await TCPServer.start(config: config, handler: handler, logger: brokerLogger)
                deferred[nodeId] = handler
            }
            var configuration = configuration
            let addresses = servers.mapValues(\.localAddress)
            let fallback = configuration.address
            configuration.address = { addresses[$0] ?? fallback($0) }
            let cluster = try EmbeddedCluster(configuration, network: network)
            do {
                try await cluster.start()
            } catch {
                await cluster.shutdown()
                throw error
            }
            for (nodeId, handler) in deferred { handler.target = cluster.handler(of: nodeId) }
            return (cluster, EmbeddedTCPListeners(servers: servers, logger: logger))
        } catch {
            for server in servers.values { await server.close() }
            throw error
        }
    }
}
