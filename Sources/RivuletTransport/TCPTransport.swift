import Logging
import NIOCore
import NIOPosix

/// Settings of a `TCPTransport`, named after Kafka's client configs.
public struct TCPTransportConfig: Sendable, Hashable {
    /// `socket.connection.setup.timeout.ms`: how long a connect may take (default 10000).
    public var connectTimeoutMs: Int64
    /// `request.timeout.ms`: how long a request waits for its response (default 30000). When it
    /// expires the request fails with `TransportError.timedOut` and the connection is closed (as
    /// Kafka's clients do), failing the requests behind it with `.connectionClosed`.
    public var requestTimeoutMs: Int64
    /// The largest response frame accepted, in bytes; a larger size prefix closes the connection.
    /// Default 512 MiB, above any `fetch.max.bytes` a consumer asks for.
    public var responseMaxBytes: Int

    public init(connectTimeoutMs: Int64 = 10_000, requestTimeoutMs: Int64 = 30_000, responseMaxBytes: Int = 512 << 20) {
        self.connectTimeoutMs = connectTimeoutMs
        self.requestTimeoutMs = requestTimeoutMs
        self.responseMaxBytes = responseMaxBytes
    }
}

/// The TCP transport: connects to brokers (Rivulet or any Kafka-compatible one) over Kafka's wire
/// protocol with SwiftNIO. Thread-safe; connections are independent.
public struct TCPTransport: Transport {
    /// The settings every connection uses.
    public let config: TCPTransportConfig
    private let group: any EventLoopGroup
    private let logger: Logger

    /// - Parameters:
    ///   - group: the event loops for the sockets (the process-wide NIO singleton by default).
    ///   - logger: receives connection-level events (timeouts, bad frames).
    public init(config: TCPTransportConfig = TCPTransportConfig(),
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "rivulet.tcp.client")) {
        self.config = config
        self.group = group
        self.logger = logger
    }

    /// Opens a TCP connection to `address`.
    ///
    /// - Throws: `TransportError.notConnected` when the connection is refused, the host does not
    ///   resolve or `connectTimeoutMs` passes.
    public func connect(to address: BrokerAddress, clientId: String?) async throws -> any KafkaConnection {
        try await connectTCP(to: address, clientId: clientId)
    }

    /// `connect(to:clientId:)` with the concrete connection type.
    public func connectTCP(to address: BrokerAddress, clientId: String?) async throws -> TCPConnection {
        let config = config
        let logger = logger
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(config.connectTimeoutMs))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.maxMessagesPerRead, value: 16)
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port).get()
        } catch {
            throw TransportError.notConnected(address, reason: "\(error)")
        }
        let connection = TCPConnection(address: address, clientId: clientId, channel: channel, config: config, logger: logger)
        do {
            try await channel.eventLoop.submit {
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: config.responseMaxBytes)))
                try pipeline.addHandler(TCPClientChannelHandler(connection: connection))
                // A close before the handler was added would go unnoticed otherwise.
                if !channel.isActive { connection.channelClosed() }
            }.get()
        } catch {
            channel.close(promise: nil)
            throw TransportError.notConnected(address, reason: "\(error)")
        }
        return connection
    }
}
