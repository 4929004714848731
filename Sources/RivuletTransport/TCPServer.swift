import Logging
import Metrics
import NIOCore
import NIOPosix
import RivuletWire
import Synchronization

/// A Kafka wire-protocol server over TCP (SwiftNIO): frames, request headers v0-v2, flexible and
/// classic encodings, in front of any `KafkaRequestHandler` (a broker).
///
/// Each connection's requests are handed to the handler one at a time, in arrival order, and
/// answered in that order (Kafka's per-connection ordering); connections never wait for each other.
/// Requests the handler answers with nil (Produce acks=0) get no response. Limits:
/// `socket.request.max.bytes`, `max.connections`, `connections.max.idle.ms` (see `TCPServerConfig`).
/// Bad input never stops the server: an unreadable header closes that connection, an unreadable
/// body, an unknown API or an unsupported version gets an error response.
///
/// Thread-safe. Stop it with `close()`, which lets in-progress requests finish and flush.
public final class TCPServer: Sendable {
    /// The address the server listens on (with the real port when the config asked for port 0).
    public let localAddress: BrokerAddress
    /// The settings the server runs with.
    public let config: TCPServerConfig

    private let serverChannel: any Channel
    private let shared: TCPServerShared

    private init(serverChannel: any Channel, localAddress: BrokerAddress, config: TCPServerConfig, shared: TCPServerShared) {
        self.serverChannel = serverChannel
        self.localAddress = localAddress
        self.config = config
        self.shared = shared
    }

    /// Binds `config.listenAddress` and starts serving `handler`.
    ///
    /// - Parameters:
    ///   - group: the event loops for the sockets (the process-wide NIO singleton by default).
    ///   - logger: receives connection-level events (closes for limits, bad frames) and errors.
    ///   - metricsFactory: where metrics go (the bootstrapped `MetricsSystem.factory` by default).
    /// - Throws: `TCPServerError.bindFailed` or `.invalidConfig`.
    public static func start(
        config: TCPServerConfig,
        handler: any KafkaRequestHandler,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "rivulet.tcp"),
        metricsFactory: (any MetricsFactory)? = nil
    ) async throws -> TCPServer {
        guard config.socketRequestMaxBytes > 0 else { throw TCPServerError.invalidConfig("socket.request.max.bytes must be positive") }
        guard config.connectionsMax > 0 else { throw TCPServerError.invalidConfig("max.connections must be positive") }
        guard config.connectionsMaxIdleMs >= 0 else { throw TCPServerError.invalidConfig("connections.max.idle.ms must not be negative") }
        guard config.queuedRequestsMax > 0 else { throw TCPServerError.invalidConfig("queuedRequestsMax must be positive") }
        let shared = TCPServerShared(config: config, handler: handler, logger: logger,
                                     metrics: TCPServerMetrics(factory: metricsFactory ?? MetricsSystem.factory))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // Reads grow to 1 MiB when a client streams large produce requests (fewer syscalls, and a
            // frame that arrives in one read is passed on without being copied); they shrink back
            // for small requests.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try shared.initialize(channel) }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: config.listenAddress.host, port: config.listenAddress.port).get()
        } catch {
            throw TCPServerError.bindFailed(config.listenAddress, reason: "\(error)")
        }
        let port = channel.localAddress?.port ?? config.listenAddress.port
        let bound = BrokerAddress(host: config.listenAddress.host, port: port)
        logger.info("listening", metadata: ["address": "\(bound)"])
        return TCPServer(serverChannel: channel, localAddress: bound, config: config, shared: shared)
    }

    /// The number of open client connections.
    public var connectionCount: Int { shared.connectionCount }

    /// Stops accepting connections, lets every connection finish the request it is processing and
    /// flush its response (requests queued behind it are dropped, unprocessed, so clients retry
    /// them), then closes the connections. Connections still busy after `shutdownTimeoutMs` are
    /// closed hard. Idempotent.
    public func close() async {
        try? await serverChannel.close()
        let connections = shared.beginShutdown()
        for connection in connections { connection.shutdown() }
        let deadline = NIODeadline.now() + .milliseconds(config.shutdownTimeoutMs)
        for connection in connections {
            let remaining = deadline - NIODeadline.now()
            if remaining > .zero {
                let closed = connection.channel.closeFuture
                let timeout = connection.channel.eventLoop.scheduleTask(in: remaining) { connection.channel.close(promise: nil) }
                try? await closed.get()
                timeout.cancel()
            } else {
                try? await connection.channel.close()
            }
        }
        shared.logger.info("stopped", metadata: ["address": "\(localAddress)"])
    }
}

/// State shared by the server and its connections.
final class TCPServerShared: Sendable {
    let config: TCPServerConfig
    let handler: any KafkaRequestHandler
    let logger: Logger
    let metrics: TCPServerMetrics

    private struct State {
        var connections: [UInt64: TCPServerConnection] = [:]
        var nextConnectionID: UInt64 = 0
        var shuttingDown = false
    }

    private let state = Mutex(State())

    init(config: TCPServerConfig, handler: any KafkaRequestHandler, logger: Logger, metrics: TCPServerMetrics) {
        self.config = config
        self.handler = handler
        self.logger = logger
        self.metrics = metrics
    }

    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Sets up a new child channel's pipeline, or closes it when the server is at `max.connections`
    /// or shutting down. Runs on the channel's event loop.
    func initialize(_ channel: any Channel) throws {
        let peer = channel.remoteAddress.map(Self.describe) ?? "unknown"
        enum Admission { case admitted(UInt64), full, shuttingDown }
        let admission = state.withLock { state -> Admission in
            if state.shuttingDown { return .shuttingDown }
            guard state.connections.count < config.connectionsMax else { return .full }
            state.nextConnectionID += 1
            return .admitted(state.nextConnectionID)
        }
        let id: UInt64
        switch admission {
        case let .admitted(admitted):
            id = admitted
        case .full:
            metrics.connectionsRejectedMax.increment()
            logger.warning("refusing connection: max.connections reached",
                           metadata: ["peer": "\(peer)", "max.connections": "\(config.connectionsMax)"])
            channel.close(promise: nil)
            return
        case .shuttingDown:
            logger.debug("refusing connection: shutting down", metadata: ["peer": "\(peer)"])
            channel.close(promise: nil)
            return
        }
        let connection = TCPServerConnection(id: id, channel: channel, peer: peer, shared: self)
        state.withLock { $0.connections[id] = connection }
        metrics.connectionsAccepted.increment()
        metrics.connections.record(connectionCount)
        let pipeline = channel.pipeline.syncOperations
        do {
            if config.connectionsMaxIdleMs > 0 {
                try pipeline.addHandler(IdleStateHandler(allTimeout: .milliseconds(config.connectionsMaxIdleMs)))
            }
            try pipeline.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: config.socketRequestMaxBytes)))
            try pipeline.addHandler(TCPServerChannelHandler(connection: connection))
        } catch {
            removeConnection(id)
            throw error
        }
        logger.debug("connection opened", metadata: ["connection": "\(id)", "peer": "\(peer)"])
    }

    func removeConnection(_ id: UInt64) {
        let count = state.withLock { state -> Int in
            state.connections.removeValue(forKey: id)
            return state.connections.count
        }
        metrics.connections.record(count)
    }

    /// Marks the server as shutting down and returns the open connections.
    func beginShutdown() -> [TCPServerConnection] {
        state.withLock { state in
            state.shuttingDown = true
            return Array(state.connections.values)
        }
    }

    static func describe(_ address: SocketAddress) -> String {
        if let ip = address.ipAddress, let port = address.port {
            return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        return "\(address)"
    }
}
