import Logging
import NIOCore
import NIOPosix
import RivuletTransport

/// TCP listeners in front of the brokers of an `EmbeddedCluster`: each broker's stable handler
/// (fault injector, then the current broker) is served over Kafka's wire protocol, so real clients,
/// the Swift client over `TCPTransport` and the workload harness (`--transport tcp`) reach it.
/// Listeners outlive broker restarts (a stopped broker answers retriable errors).
public final class EmbeddedTCPListeners: Sendable {
    /// The listener of each broker, by node id.
    public let servers: [Int32: TCPServer]

    init(servers: [Int32: TCPServer]) {
        self.servers = servers
    }

    /// The listen addresses (also the brokers' advertised addresses), sorted by node id.
    public var bootstrapAddresses: [BrokerAddress] { servers.keys.sorted().compactMap { servers[$0]?.localAddress } }

    /// A TCP transport for clients of this cluster.
    public func transport(config: TCPTransportConfig = TCPTransportConfig()) -> TCPTransport {
        TCPTransport(config: config)
    }

    /// Stops every listener (in-progress requests finish first). The cluster keeps running.
    public func close() async {
        for server in servers.values { await server.close() }
    }
}

extension EmbeddedCluster {
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
            return (cluster, EmbeddedTCPListeners(servers: servers))
        } catch {
            for server in servers.values { await server.close() }
            throw error
        }
    }
}
